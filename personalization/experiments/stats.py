"""Statistics for experiment results, as pure functions over counts and sums.

Frequentist tests (two-proportion z, Welch's t), the Bayesian view (probability to beat
control, expected loss under Beta-Binomial posteriors), sample size and power, an always-valid
p-value (mSPRT) so that peeking at a running test does not inflate false positives, multiple
comparison corrections for A/B/n, and the sample ratio mismatch check.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from scipy import special

_NORMAL = NormalDist()
SRM_THRESHOLD = 0.001


def _z(p: float) -> float:
    return _NORMAL.inv_cdf(p)


def _two_sided_normal(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0))


@dataclass(frozen=True)
class ProportionTest:
    control_rate: float
    treatment_rate: float
    difference: float
    difference_ci: tuple[float, float]
    relative_lift: float | None
    lift_ci: tuple[float, float] | None
    z: float
    p_value: float
    chi_squared: float


def proportion_ci(successes: int, trials: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval for one rate (sane at 0 and 1, unlike the Wald interval)."""
    if trials <= 0:
        return (0.0, 1.0)
    z = _z(1 - alpha / 2)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def two_proportion_test(
    control_successes: int,
    control_trials: int,
    treatment_successes: int,
    treatment_trials: int,
    alpha: float = 0.05,
) -> ProportionTest:
    """Pooled z-test (its square is the 2x2 chi-squared without continuity correction), an
    unpooled Wald interval for the difference, and a delta-method interval for the relative lift
    (on the log of the rate ratio)."""
    x1, n1, x2, n2 = control_successes, control_trials, treatment_successes, treatment_trials
    if n1 <= 0 or n2 <= 0:
        raise ValueError("both groups need at least one trial")
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (p2 - p1) / se_pooled if se_pooled > 0 else 0.0
    p_value = _two_sided_normal(z) if se_pooled > 0 else 1.0
    crit = _z(1 - alpha / 2)
    se_diff = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    diff = p2 - p1
    lift = lift_ci = None
    if x1 > 0:
        lift = p2 / p1 - 1
        if x2 > 0:
            se_log = math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
            log_ratio = math.log(p2 / p1)
            lift_ci = (
                math.exp(log_ratio - crit * se_log) - 1,
                math.exp(log_ratio + crit * se_log) - 1,
            )
    return ProportionTest(
        control_rate=p1,
        treatment_rate=p2,
        difference=diff,
        difference_ci=(diff - crit * se_diff, diff + crit * se_diff),
        relative_lift=lift,
        lift_ci=lift_ci,
        z=z,
        p_value=p_value,
        chi_squared=z * z,
    )


@dataclass(frozen=True)
class MeanTest:
    difference: float
    difference_ci: tuple[float, float]
    t: float
    df: float
    p_value: float


def welch_test(
    control_mean: float,
    control_var: float,
    control_n: int,
    treatment_mean: float,
    treatment_var: float,
    treatment_n: int,
    alpha: float = 0.05,
) -> MeanTest:
    """Welch's unequal-variance t-test, e.g. on revenue per exposed visitor (sample variances)."""
    if control_n < 2 or treatment_n < 2:
        raise ValueError("both groups need at least two observations")
    v1, v2 = control_var / control_n, treatment_var / treatment_n
    se = math.sqrt(v1 + v2)
    diff = treatment_mean - control_mean
    if se == 0:
        return MeanTest(diff, (diff, diff), 0.0, float(control_n + treatment_n - 2), 1.0)
    df = (v1 + v2) ** 2 / (v1 * v1 / (control_n - 1) + v2 * v2 / (treatment_n - 1))
    t = diff / se
    p_value = 2 * float(special.stdtr(df, -abs(t)))
    crit = float(special.stdtrit(df, 1 - alpha / 2))
    return MeanTest(diff, (diff - crit * se, diff + crit * se), t, df, p_value)


def mean_and_variance(values_sum: float, squares_sum: float, n: int) -> tuple[float, float]:
    """Mean and sample variance from running sums (revenue per visitor, no row per visitor)."""
    if n <= 0:
        return 0.0, 0.0
    mean = values_sum / n
    if n < 2:
        return mean, 0.0
    return mean, max(squares_sum - n * mean * mean, 0.0) / (n - 1)


# -- Bayesian: Beta(1 + successes, 1 + failures) posteriors --------------------------------------


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _prob_b_beats_a(a_a: float, b_a: float, a_b: float, b_b: float) -> float:
    """P(p_B > p_A) for p_A ~ Beta(a_a, b_a), p_B ~ Beta(a_b, b_b), integer ``a_b`` (Evan
    Miller's closed form, summed in log space); a normal approximation past 20,000 terms."""
    if a_b > 20000:
        mean_a, mean_b = a_a / (a_a + b_a), a_b / (a_b + b_b)
        var_a = a_a * b_a / ((a_a + b_a) ** 2 * (a_a + b_a + 1))
        var_b = a_b * b_b / ((a_b + b_b) ** 2 * (a_b + b_b + 1))
        return _NORMAL.cdf((mean_b - mean_a) / math.sqrt(var_a + var_b))
    total = 0.0
    base = _log_beta(a_a, b_a)
    for i in range(int(a_b)):
        total += math.exp(
            _log_beta(a_a + i, b_a + b_b) - math.log(b_b + i) - _log_beta(1 + i, b_b) - base
        )
    return min(max(total, 0.0), 1.0)


@dataclass(frozen=True)
class BayesResult:
    probability_to_beat: float
    expected_loss: float  # expected shortfall in rate if the treatment is chosen and is worse


def bayes_compare(
    control_successes: int, control_trials: int, treatment_successes: int, treatment_trials: int
) -> BayesResult:
    """Probability the treatment's rate beats the control's, and the expected loss of shipping
    the treatment, both under uniform Beta(1, 1) priors."""
    a_a, b_a = 1 + control_successes, 1 + control_trials - control_successes
    a_b, b_b = 1 + treatment_successes, 1 + treatment_trials - treatment_successes
    beat = _prob_b_beats_a(a_a, b_a, a_b, b_b)
    # E[max(pA - pB, 0)] = E[pA 1{pA > pB}] - E[pB 1{pA > pB}]
    loss = (a_a / (a_a + b_a)) * (1 - _prob_b_beats_a(a_a + 1, b_a, a_b, b_b)) - (
        a_b / (a_b + b_b)
    ) * (1 - _prob_b_beats_a(a_a, b_a, a_b + 1, b_b))
    return BayesResult(beat, max(loss, 0.0))


# -- planning ------------------------------------------------------------------------------------


def sample_size(
    baseline: float, relative_effect: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Visitors per arm for a two-sided two-proportion z-test to detect ``baseline`` moving to
    ``baseline * (1 + relative_effect)`` with the given power."""
    p1 = baseline
    p2 = baseline * (1 + relative_effect)
    if not (0 < p1 < 1 and 0 < p2 < 1) or p1 == p2:
        raise ValueError("baseline and effect must give two different rates in (0, 1)")
    pooled = (p1 + p2) / 2
    numerator = _z(1 - alpha / 2) * math.sqrt(2 * pooled * (1 - pooled)) + _z(power) * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2)
    )
    return math.ceil(numerator**2 / (p2 - p1) ** 2)


def achieved_power(n: int, baseline: float, relative_effect: float, alpha: float = 0.05) -> float:
    """Power of the same test with ``n`` visitors per arm (the inverse of ``sample_size``)."""
    p1 = baseline
    p2 = baseline * (1 + relative_effect)
    pooled = (p1 + p2) / 2
    se_null = math.sqrt(2 * pooled * (1 - pooled) / n)
    se_alt = math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / n)
    crit = _z(1 - alpha / 2)
    delta = abs(p2 - p1)
    return _NORMAL.cdf((delta - crit * se_null) / se_alt) + _NORMAL.cdf(
        (-delta - crit * se_null) / se_alt
    )


# -- peeking ---------------------------------------------------------------------------------------


def msprt_p_value(
    control_successes: int,
    control_trials: int,
    treatment_successes: int,
    treatment_trials: int,
    *,
    tau: float = 0.05,
) -> float:
    """Always-valid p-value of the mixture sequential probability ratio test (Johari et al.,
    "Peeking at A/B tests", 2017) for a difference in rates, normal mixing prior of scale
    ``tau``. Looking after every visitor keeps the false positive rate at most alpha.

    This is the p-value at this look; callers that peek repeatedly keep the running minimum
    (``ExperimentResults`` does, over its daily series).
    """
    n = min(control_trials, treatment_trials)
    if n <= 0:
        return 1.0
    p1 = control_successes / control_trials
    p2 = treatment_successes / treatment_trials
    variance = p1 * (1 - p1) + p2 * (1 - p2)
    if variance <= 0:
        return 1.0
    theta = p2 - p1
    tau2 = tau * tau
    log_lambda = 0.5 * math.log(variance / (variance + n * tau2)) + (
        n * n * tau2 * theta * theta
    ) / (2 * variance * (variance + n * tau2))
    return min(1.0, math.exp(-log_lambda))


# -- A/B/n ---------------------------------------------------------------------------------------


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (family-wise error), in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i], reverse=True)
    adjusted = [0.0] * m
    running = 1.0
    for position, i in enumerate(order):
        rank = m - position
        running = min(running, p_values[i] * m / rank)
        adjusted[i] = min(running, 1.0)
    return adjusted


@dataclass(frozen=True)
class SampleRatio:
    chi_squared: float
    p_value: float
    mismatch: bool


def sample_ratio_mismatch(
    observed: Sequence[int], expected_weights: Sequence[float], threshold: float = SRM_THRESHOLD
) -> SampleRatio:
    """Chi-squared goodness of fit of arm sizes to the intended split; a mismatch (p < 0.001)
    means assignment or logging is broken and the results cannot be trusted."""
    total = sum(observed)
    weight_sum = sum(expected_weights)
    if total == 0 or len(observed) < 2 or weight_sum <= 0:
        return SampleRatio(0.0, 1.0, False)
    chi2 = 0.0
    cells = 0
    for count, weight in zip(observed, expected_weights, strict=True):
        expected = total * weight / weight_sum
        if expected > 0:
            chi2 += (count - expected) ** 2 / expected
            cells += 1
    if cells < 2:
        return SampleRatio(0.0, 1.0, False)
    p_value = float(special.chdtrc(cells - 1, chi2))
    return SampleRatio(chi2, p_value, p_value < threshold)
