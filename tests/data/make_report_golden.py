"""Write the golden files of the report statistics from independent reference libraries.

Run in the peers venv, never by the test suite (the project does not depend on these). ``make peers`` builds that venv from
requirements-peers.txt; ``make check-goldens`` runs this script with ``--out`` a temporary
folder and compares its output with the committed file(s) (tests/data/check_goldens.py):

    .peers-venv/bin/python tests/data/make_report_golden.py [--out DIR]

Writes, each with its inputs, the library versions and the exact calls made:

- ``report_krippendorff_golden.json``: ``krippendorff.alpha`` at the nominal, ordinal, interval
  and ratio levels on (raters x units) matrices with missing values (null), including the
  worked example of Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability".
- ``report_choix_golden.json``: Bradley-Terry maximum-likelihood scores of pairwise votes from
  ``choix.ilsr_pairwise`` and ``choix.opt_pairwise`` with ``alpha=0``. choix takes (winner,
  loser) pairs without ties, so every vote is written twice: a decisive vote as two wins, a tie
  as one win each way; the likelihood is then twice that of "ties count half", same maximum.
  "Both bad" votes are left out.
- ``report_holm_golden.json``: Holm-adjusted p-values from ``statsmodels.stats.multitest.multipletests``.
"""

from __future__ import annotations

import argparse
import json
from importlib import metadata
from pathlib import Path

import choix
import krippendorff
import numpy as np
from statsmodels.stats.multitest import multipletests

HERE = Path(__file__).parent
LEVELS = ("nominal", "ordinal", "interval", "ratio")


def _matrix_to_json(data: np.ndarray) -> list[list[float | None]]:
    return [[None if np.isnan(v) else float(v) for v in row] for row in data]


def krippendorff_cases() -> dict:
    nan = np.nan
    rng = np.random.default_rng(20240601)
    cases = {}
    # Krippendorff (2011), section C: 4 observers, 12 units; published alphas 0.743 (nominal),
    # 0.815 (ordinal), 0.849 (interval), 0.797 (ratio).
    cases["krippendorff_2011"] = np.array(
        [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
            [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
        ]
    )
    # 5-point ratings of 60 units by 5 judges, 30% missing: a noisy consensus.
    truth = rng.integers(1, 6, 60)
    likert = np.clip(truth[None, :] + rng.integers(-1, 2, (5, 60)), 1, 5).astype(float)
    likert[rng.random((5, 60)) < 0.3] = nan
    cases["likert_5_judges_60_units"] = likert
    # 3 ratings per unit from a pool of 12 judges (the campaign layout), 7-point scale, unused
    # middle values, some units with a single rating (not pairable).
    pool = np.full((12, 150), nan)
    centre = rng.integers(1, 8, 150)
    for u in range(150):
        judges = rng.choice(12, size=1 if u % 25 == 0 else 3, replace=False)
        pool[judges, u] = np.clip(centre[u] + rng.integers(-2, 3, judges.size), 1, 7)
    pool[pool == 4] = 5  # nobody uses 4: the ordinal metric must not care
    cases["pool_12_judges_3_per_unit"] = pool
    # Continuous scores (e.g. a slider), interval and ratio levels only make sense.
    cont = np.round(rng.gamma(4.0, 1.0, 40)[None, :] + rng.normal(0, 0.8, (4, 40)), 3)
    cont = np.abs(cont)
    cont[rng.random((4, 40)) < 0.2] = nan
    cases["continuous_4_raters_40_units"] = cont

    out = {}
    for name, data in cases.items():
        levels = ("interval", "ratio") if name.startswith("continuous") else LEVELS
        out[name] = {
            "data": _matrix_to_json(data),
            "alpha": {
                level: float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))
                for level in levels
            },
        }
    return out


def choix_cases() -> dict:
    rng = np.random.default_rng(7)
    cases = {}
    # 6 models, 400 votes among random pairs, 15% ties and 5% "both bad".
    theta = np.array([-1.0, -0.4, -0.2, 0.3, 0.5, 0.8])
    n = 400
    a = rng.integers(0, 6, n)
    b = (a + rng.integers(1, 6, n)) % 6
    p = 1 / (1 + np.exp(-(theta[a] - theta[b])))
    u = rng.random(n)
    outcome = np.where(u < 0.15, 2, np.where(u < 0.2, 3, np.where(rng.random(n) < p, 0, 1)))
    cases["six_models_ties_and_both_bad"] = (6, a, b, outcome)
    # 5 models on a sparse graph (a ring), no ties, strongly connected.
    a = np.array([0, 1, 2, 3, 4] * 8)
    b = (a + 1) % 5
    outcome = rng.integers(0, 2, a.size)
    outcome[:5] = 0
    outcome[5:10] = 1
    cases["ring_of_five_sparse"] = (5, a, b, outcome)
    # 8 models, 3000 votes, few ties: the report's size.
    theta = np.linspace(-1.5, 1.5, 8)
    n = 3000
    a = rng.integers(0, 8, n)
    b = (a + rng.integers(1, 8, n)) % 8
    p = 1 / (1 + np.exp(-(theta[a] - theta[b])))
    u = rng.random(n)
    outcome = np.where(u < 0.05, 2, np.where(u < 0.08, 3, np.where(rng.random(n) < p, 0, 1)))
    cases["eight_models_3000_votes"] = (8, a, b, outcome)

    out = {}
    for name, (m, a, b, o) in cases.items():
        pairs = []
        for x, y, z in zip(a.tolist(), b.tolist(), o.tolist(), strict=True):
            if z == 0:
                pairs += [(x, y), (x, y)]
            elif z == 1:
                pairs += [(y, x), (y, x)]
            elif z == 2:
                pairs += [(x, y), (y, x)]
        ilsr = choix.ilsr_pairwise(m, pairs, alpha=0.0, max_iter=10_000, tol=1e-12)
        opt = choix.opt_pairwise(m, pairs, alpha=0.0, tol=1e-12)
        out[name] = {
            "n_models": m,
            "model_a": a.tolist(),
            "model_b": b.tolist(),
            "outcome": o.tolist(),
            "ilsr_pairwise": (ilsr - ilsr.mean()).tolist(),
            "opt_pairwise": (opt - opt.mean()).tolist(),
        }
    return out


def holm_cases() -> dict:
    rng = np.random.default_rng(11)
    cases = {
        "mixed_28": np.concatenate([rng.uniform(0, 0.01, 6), rng.uniform(0, 1, 22)]),
        "ties_and_ones": np.array([0.01, 0.01, 0.04, 0.04, 1.0, 0.5, 0.0005, 0.2]),
    }
    return {
        name: {
            "p": p.tolist(),
            "holm": multipletests(p, method="holm")[1].tolist(),
        }
        for name, p in cases.items()
    }


def _write(out_dir: Path, name: str, payload: dict, how: str, libraries: list[str]) -> None:
    payload = {
        "how": how,
        "versions": {lib: metadata.version(lib) for lib in libraries},
        "cases": payload,
    }
    (out_dir / name).write_text(json.dumps(payload, indent=None, separators=(",", ":")) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into")
    out_dir = parser.parse_args().out
    out_dir.mkdir(parents=True, exist_ok=True)
    _write(
        out_dir,
        "report_krippendorff_golden.json",
        krippendorff_cases(),
        "krippendorff.alpha(reliability_data=data, level_of_measurement=level); data is raters x units, null = missing",
        ["krippendorff", "numpy"],
    )
    _write(
        out_dir,
        "report_choix_golden.json",
        choix_cases(),
        "outcome 0 = A better, 1 = B better, 2 = tie, 3 = both bad; each vote written twice "
        "(tie: once each way), both bad left out; choix.ilsr_pairwise(m, pairs, alpha=0, "
        "max_iter=10000, tol=1e-12) and choix.opt_pairwise(m, pairs, alpha=0, tol=1e-12), centred",
        ["choix", "numpy", "scipy"],
    )
    _write(
        out_dir,
        "report_holm_golden.json",
        holm_cases(),
        "statsmodels.stats.multitest.multipletests(p, method='holm')[1]",
        ["statsmodels"],
    )


if __name__ == "__main__":
    main()
