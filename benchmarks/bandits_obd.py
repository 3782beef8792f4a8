#!/usr/bin/env python
"""Off-policy evaluation on real logged data: the Open Bandit Dataset sample.

    .venv/bin/python benchmarks/bandits_obd.py [--data ../shared/data/obd/random/all/all.csv]
                                               [--obp-python /tmp/obpvenv/bin/python]

The data (10,000 impressions of a uniform-random policy over 80 items, 3 positions, with the
logging propensities and clicks) is read where it lies, never copied. Each row becomes a
``LoggedDecision`` - the product's log format, what an ``Exposure`` row holds plus its reward -
with one-hot user features as the context. Then:

1. the logged policy's on-policy click rate (mean click, with its 95% interval) and its IPS,
   SNIPS and DR estimates (target = uniform): IPS must recover the on-policy rate and fall in
   its interval;
2. the product's Thompson sampling policy (``thompson_weights`` from clicks per item in the
   first half, time order) and LinUCB (``LinUCB.update`` over the first half, then
   ``linucb_probabilities`` per context), evaluated on the second half with IPS / SNIPS / DR
   (reward model for DR: each item's smoothed click rate in the first half);
3. the same estimates from the ``obp`` package (its InverseProbabilityWeighting,
   SelfNormalizedInverseProbabilityWeighting and DoublyRobust, fed the same arrays), which
   must agree to 1e-6. obp is a benchmark-only dependency, run in its own virtualenv
   (``--obp-python``): ``python -m venv /tmp/obpvenv && /tmp/obpvenv/bin/pip install obp
   --no-deps && /tmp/obpvenv/bin/pip install numpy scipy scikit-learn pandas matplotlib
   seaborn tqdm pyyaml mypy-extensions``. obp imports torch at module level only for its
   neural models and tensor variants; rather than install torch (gigabytes) this script puts an
   import-only stand-in on that interpreter's path. The estimators compared are obp's numpy
   code. Without obp the script says so and checks against a direct numpy transcription of
   obp's formulas instead.

Prints a table and, as the last line, the results as JSON. Exits non-zero if a check fails.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from personalization.experiments import offpolicy  # noqa: E402
from personalization.experiments.policies import (  # noqa: E402
    LinUCB,
    linucb_probabilities,
    thompson_weights,
)

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared/data/obd/random/all/all.csv"
USER_FEATURES = [f"user_feature_{i}" for i in range(4)]

TORCH_STUB = """
import sys, types
class Tensor: pass
class _Anything:
    def __init__(self, *a, **k): pass
    def __call__(self, *a, **k): return _Anything()
    def __getattr__(self, name): return _Anything()
    def __mro_entries__(self, bases): return (object,)
def __getattr__(name): return _Anything()
for _sub in ("nn", "nn.functional", "optim", "utils", "utils.data", "distributions", "nn.init"):
    _m = types.ModuleType("torch." + _sub)
    _m.__getattr__ = lambda name: _Anything()
    sys.modules["torch." + _sub] = _m
"""

OBP_SCRIPT = """
import json, sys
import numpy as np
from obp.ope import (DoublyRobust, InverseProbabilityWeighting,
                     SelfNormalizedInverseProbabilityWeighting)
import obp
data = np.load(sys.argv[1])
out = {"obp_version": obp.__version__}
n_policies = int(data["n_policies"])
for p in range(n_policies):
    kw = dict(reward=data[f"reward_{p}"], action=data[f"action_{p}"], pscore=data[f"pscore_{p}"],
              action_dist=data[f"action_dist_{p}"], position=data[f"position_{p}"])
    q = data[f"q_{p}"]
    out[str(p)] = {
        "ips": float(InverseProbabilityWeighting().estimate_policy_value(**kw)),
        "snips": float(SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(**kw)),
        "dr": float(DoublyRobust().estimate_policy_value(estimated_rewards_by_reg_model=q, **kw)),
    }
print(json.dumps(out))
"""


def load(path: Path):
    with path.open() as f:
        rows = list(csv.DictReader(f))
    rows.sort(key=lambda r: r["timestamp"])
    vocab: dict[tuple[str, str], int] = {}
    for r in rows:
        for name in USER_FEATURES:
            vocab.setdefault((name, r[name]), len(vocab))
    log, positions = [], []
    for r in rows:
        x = np.zeros(1 + len(vocab))
        x[0] = 1.0
        for name in USER_FEATURES:
            x[1 + vocab[(name, r[name])]] = 1.0
        log.append(
            offpolicy.LoggedDecision(
                arm=int(r["item_id"]),
                propensity=float(r["propensity_score"]),
                reward=float(r["click"]),
                features=tuple(x),
            )
        )
        positions.append(int(r["position"]) - 1)
    return log, np.array(positions)


def reference_numpy(log, action_dist, q):
    """obp's formulas transcribed directly (used when obp is not installed)."""
    a = np.array([d.arm for d in log])
    p = np.array([d.propensity for d in log])
    r = np.array([d.reward for d in log])
    i = np.arange(len(a))
    w = action_dist[i, a] / p
    return {
        "ips": float(np.mean(w * r)),
        "snips": float(np.sum(w * r) / np.sum(w)),
        "dr": float(np.mean((action_dist * q).sum(1) + w * (r - q[i, a]))),
    }


def run_obp(python: str, policies: list[dict]) -> dict | None:
    if not python or not Path(python).exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        arrays = {"n_policies": np.array(len(policies))}
        for k, pol in enumerate(policies):
            log, dist, q, pos = pol["log"], pol["action_dist"], pol["q"], pol["position"]
            arrays |= {
                f"reward_{k}": np.array([d.reward for d in log]),
                f"action_{k}": np.array([d.arm for d in log]),
                f"pscore_{k}": np.array([d.propensity for d in log]),
                f"position_{k}": pos,
                # obp wants (rounds, actions, positions); our policies ignore the position
                f"action_dist_{k}": np.repeat(dist[:, :, None], 3, axis=2),
                f"q_{k}": np.repeat(q[:, :, None], 3, axis=2),
            }
        np.savez(Path(tmp) / "data.npz", **arrays)
        (Path(tmp) / "torch").mkdir()
        (Path(tmp) / "torch" / "__init__.py").write_text(TORCH_STUB)
        (Path(tmp) / "run_obp.py").write_text(OBP_SCRIPT)
        env = {**os.environ, "PYTHONPATH": tmp}
        done = subprocess.run(
            [python, str(Path(tmp) / "run_obp.py"), str(Path(tmp) / "data.npz")],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return None
        return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--obp-python", default=os.environ.get("OBP_PYTHON", "/tmp/obpvenv/bin/python")
    )
    parser.add_argument("--alpha", type=float, default=1.0, help="LinUCB exploration")
    parser.add_argument("--min-share", type=float, default=0.001)
    args = parser.parse_args()
    started = time.perf_counter()
    log, positions = load(args.data)
    k = 1 + max(d.arm for d in log)
    n = len(log)
    half = n // 2
    train, test, test_pos = log[:half], log[half:], positions[half:]

    # Reward model for DR: smoothed click rate per item on the training half.
    clicks = np.zeros(k)
    shows = np.zeros(k)
    for d in train:
        clicks[d.arm] += d.reward
        shows[d.arm] += 1
    prior = clicks.sum() / shows.sum()
    rate = (clicks + prior * 20) / (shows + 20)

    policies = []
    uniform_all = np.full((n, k), 1.0 / k)
    policies.append(
        {
            "name": "logged (uniform random), all rows",
            "log": log,
            "action_dist": uniform_all,
            "q": np.tile(rate, (n, 1)),
            "position": positions,
        }
    )
    thompson = np.array(thompson_weights(clicks, shows, min_share=args.min_share, seed=0))
    policies.append(
        {
            "name": "product Thompson sampling",
            "log": test,
            "action_dist": np.tile(thompson, (len(test), 1)),
            "q": np.tile(rate, (len(test), 1)),
            "position": test_pos,
        }
    )
    model = LinUCB.create(k, len(log[0].features), alpha=args.alpha)
    for d in train:
        model.update(d.arm, d.features, d.reward)
    linucb = np.array([linucb_probabilities(model, d.features, args.min_share) for d in test])
    policies.append(
        {
            "name": "product LinUCB",
            "log": test,
            "action_dist": linucb,
            "q": np.tile(rate, (len(test), 1)),
            "position": test_pos,
        }
    )

    results = {"rows": n, "items": k, "clicks": int(sum(d.reward for d in log)), "policies": []}
    problems = []
    reference = run_obp(args.obp_python, policies)
    results["reference"] = (
        f"obp {reference['obp_version']}" if reference else "numpy transcription (obp unavailable)"
    )
    for idx, pol in enumerate(policies):
        ips = offpolicy.ips(pol["log"], pol["action_dist"])
        sn = offpolicy.snips(pol["log"], pol["action_dist"])
        dr = offpolicy.dr(pol["log"], pol["action_dist"], pol["q"])
        ref = (
            reference[str(idx)]
            if reference
            else reference_numpy(pol["log"], pol["action_dist"], pol["q"])
        )
        row = {
            "policy": pol["name"],
            "rounds": len(pol["log"]),
            "ips": ips.value,
            "ips_ci": ips.ci,
            "snips": sn.value,
            "snips_ci": sn.ci,
            "dr": dr.value,
            "dr_ci": dr.ci,
            "reference": ref,
            "max_abs_difference": max(
                abs(ips.value - ref["ips"]), abs(sn.value - ref["snips"]), abs(dr.value - ref["dr"])
            ),
        }
        if row["max_abs_difference"] > 1e-6:
            problems.append(
                f"{pol['name']}: differs from the reference by {row['max_abs_difference']}"
            )
        results["policies"].append(row)

    on_policy = offpolicy.on_policy(log)
    logged = results["policies"][0]
    results["on_policy_ctr"] = on_policy.value
    results["on_policy_ci"] = on_policy.ci
    results["logged_ips_in_on_policy_ci"] = on_policy.ci[0] <= logged["ips"] <= on_policy.ci[1]
    results["on_policy_in_logged_ips_ci"] = (
        logged["ips_ci"][0] <= on_policy.value <= logged["ips_ci"][1]
    )
    if not (results["logged_ips_in_on_policy_ci"] and results["on_policy_in_logged_ips_ci"]):
        problems.append("IPS did not recover the logged on-policy click rate")
    results["problems"] = problems
    results["seconds"] = round(time.perf_counter() - started, 1)

    print("\n=== off-policy evaluation on the Open Bandit Dataset (random/all sample) ===")
    print(f"  rows {n}, items {k}, clicks {results['clicks']}; reference: {results['reference']}")
    print(
        f"  on-policy CTR of the logged policy: {on_policy.value:.5f} "
        f"[{on_policy.ci[0]:.5f}, {on_policy.ci[1]:.5f}]"
    )
    print(f"  {'policy':<36}{'rounds':>7}{'IPS':>10}{'SNIPS':>10}{'DR':>10}{'|ours-ref|':>12}")
    for row in results["policies"]:
        print(
            f"  {row['policy']:<36}{row['rounds']:>7}{row['ips']:>10.5f}{row['snips']:>10.5f}"
            f"{row['dr']:>10.5f}{row['max_abs_difference']:>12.1e}"
        )
        print(
            f"  {'':<36}{'95% CI':>7}  IPS [{row['ips_ci'][0]:.5f}, {row['ips_ci'][1]:.5f}]"
            f"  DR [{row['dr_ci'][0]:.5f}, {row['dr_ci'][1]:.5f}]"
        )
    print(f"  logged IPS within the on-policy CI: {results['logged_ips_in_on_policy_ci']}")
    for problem in problems:
        print(f"  PROBLEM {problem}")
    print(json.dumps(results, default=float))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
