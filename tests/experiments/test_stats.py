"""Statistics against scipy (computed here, by other routines) and hand-worked values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sp

from personalization.experiments import stats


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2"), [(120, 2400, 150, 2400), (30, 1000, 22, 980), (500, 9000, 560, 9100)]
)
def test_two_proportion_test_matches_chi_squared_and_hand_formulas(x1, n1, x2, n2):
    result = stats.two_proportion_test(x1, n1, x2, n2)
    table = np.array([[x1, n1 - x1], [x2, n2 - x2]])
    chi2, p, _dof, _expected = sp.chi2_contingency(table, correction=False)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert result.chi_squared == pytest.approx(chi2, rel=1e-9)
    p1, p2 = x1 / n1, x2 / n2
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    z = sp.norm.ppf(0.975)
    assert result.difference_ci == pytest.approx((p2 - p1 - z * se, p2 - p1 + z * se), rel=1e-9)
    se_log = math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    ratio = p2 / p1
    assert result.relative_lift == pytest.approx(ratio - 1)
    low, high = result.lift_ci
    assert low == pytest.approx(ratio * math.exp(-z * se_log) - 1, rel=1e-9)
    assert high == pytest.approx(ratio * math.exp(z * se_log) - 1, rel=1e-9)


def test_welch_matches_scipy():
    rng = np.random.default_rng(3)
    a = rng.exponential(20, 300) * (rng.random(300) < 0.1)
    b = rng.exponential(24, 350) * (rng.random(350) < 0.1)
    mean_a, var_a = stats.mean_and_variance(a.sum(), (a * a).sum(), len(a))
    mean_b, var_b = stats.mean_and_variance(b.sum(), (b * b).sum(), len(b))
    result = stats.welch_test(mean_a, var_a, len(a), mean_b, var_b, len(b))
    expected = sp.ttest_ind(b, a, equal_var=False)
    assert result.t == pytest.approx(expected.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    ci = expected.confidence_interval(0.95)
    assert result.difference_ci == pytest.approx((ci.low, ci.high), rel=1e-9)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2"), [(10, 100, 15, 100), (40, 1000, 52, 1000), (3, 50, 2, 60)]
)
def test_bayes_matches_numerical_integration(x1, n1, x2, n2):
    a = sp.beta(1 + x1, 1 + n1 - x1)
    b = sp.beta(1 + x2, 1 + n2 - x2)
    beat, _ = integrate.quad(lambda p: b.pdf(p) * a.cdf(p), 0, 1, limit=500, epsabs=1e-12)
    # expected loss of shipping B: E[max(pA - pB, 0)]
    loss, _ = integrate.dblquad(
        lambda pb, pa: (pa - pb) * a.pdf(pa) * b.pdf(pb), 0, 1, 0, lambda pa: pa, epsabs=1e-11
    )
    result = stats.bayes_compare(x1, n1, x2, n2)
    assert result.probability_to_beat == pytest.approx(beat, abs=1e-7)
    assert result.expected_loss == pytest.approx(loss, abs=1e-7)


def test_sample_size_is_the_smallest_n_with_the_power():
    n = stats.sample_size(0.10, 0.20, alpha=0.05, power=0.8)  # 10% -> 12%

    def power(m):  # the same test's power, computed with scipy's normal
        p1, p2 = 0.10, 0.12
        pooled = (p1 + p2) / 2
        se0 = math.sqrt(2 * pooled * (1 - pooled) / m)
        se1 = math.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / m)
        crit = sp.norm.ppf(0.975)
        return sp.norm.cdf((0.02 - crit * se0) / se1) + sp.norm.cdf((-0.02 - crit * se0) / se1)

    assert power(n) >= 0.8 > power(n - 1)
    assert 3800 < n < 3900  # textbook: about 3,841 per arm for 10% -> 12%
    assert stats.achieved_power(n, 0.10, 0.20) == pytest.approx(power(n), rel=1e-9)


def test_holm_and_benjamini_hochberg():
    p = [0.01, 0.04, 0.03, 0.005]
    # hand-worked Holm: sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> 0.02, 0.03, 0.06, 0.06
    assert stats.holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.benjamini_hochberg(p) == pytest.approx(sp.false_discovery_control(p))


def test_sample_ratio_mismatch():
    srm = stats.sample_ratio_mismatch([5000, 5400], [1, 1])
    expected = sp.chisquare([5000, 5400])
    assert srm.p_value == pytest.approx(expected.pvalue, rel=1e-9) and srm.mismatch
    fine = stats.sample_ratio_mismatch([5000, 5060], [1, 1])
    assert not fine.mismatch
    # p = 0.003: suspicious, but the warning is for p < 0.001 only
    borderline = stats.sample_ratio_mismatch([5000, 5300], [1, 1])
    assert 0.001 < borderline.p_value < 0.01 and not borderline.mismatch
    weighted = stats.sample_ratio_mismatch([2600, 7400], [1, 3])
    assert weighted.p_value == pytest.approx(sp.chisquare([2600, 7400], [2500, 7500]).pvalue)


def test_msprt_keeps_false_positives_down_while_naive_peeking_does_not():
    """A/A tests, peeking every 200 visitors up to 10,000: the fixed-horizon z-test 'finds' an
    effect far more often than 5% of the time; the always-valid p-value stays under 5%."""
    rng = np.random.default_rng(7)
    runs, naive_hits, msprt_hits = 300, 0, 0
    for _ in range(runs):
        a = rng.random(10_000) < 0.1
        b = rng.random(10_000) < 0.1
        naive = msprt = False
        for n in range(200, 10_001, 200):
            x1, x2 = int(a[:n].sum()), int(b[:n].sum())
            naive |= stats.two_proportion_test(x1, n, x2, n).p_value < 0.05
            msprt |= stats.msprt_p_value(x1, n, x2, n) < 0.05
        naive_hits += naive
        msprt_hits += msprt
    assert naive_hits / runs > 0.15
    assert msprt_hits / runs <= 0.05
