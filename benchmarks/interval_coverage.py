"""Coverage of the report's 95% bootstrap intervals in small studies (10, 20, 50 prompts).

    .venv/bin/python benchmarks/interval_coverage.py [--studies 300] [--resamples 1000]

Each simulated study comes from :mod:`ratings.stats.simulate` with a known truth:

- mean ratings: 4 models (true means 2.2 .. 4.0), prompt, interaction and noise effects, 3
  ratings per image, no rounding (so the model's expected rating is exactly ``mu``); the
  interval is the report's percentile cluster bootstrap over prompts
  (:func:`ratings.stats.model_means_bootstrap`);
- Bradley-Terry: 4 models (true log-strengths -0.6 .. 0.6), 18 votes per prompt (every pair
  three times on average), prompt bootstrap (:func:`ratings.stats.bradley_terry`).

Coverage is the share of (study, model) intervals that hold the truth; with 300 studies x 4
models its standard error is about 0.6 points. The report's small-study warning (under 30
prompts) quotes these figures; README "Small studies" lists them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ratings.stats import bradley_terry, model_means_bootstrap  # noqa: E402
from ratings.stats.simulate import simulate_ratings, simulate_votes  # noqa: E402

MEANS = np.array([2.2, 2.8, 3.4, 4.0])
STRENGTHS = np.array([-0.6, -0.2, 0.2, 0.6])


def mean_coverage(n_prompts: int, studies: int, resamples: int) -> float:
    hits = 0
    for seed in range(studies):
        sim = simulate_ratings(MEANS, n_prompts=n_prompts, n_judges=12, seed=seed)
        result = model_means_bootstrap(
            sim.model_idx, sim.prompt_idx, sim.score, n_resamples=resamples, seed=seed
        )
        hits += int(np.sum((result.low <= MEANS) & (MEANS <= result.high)))
    return hits / (studies * MEANS.size)


def bt_coverage(n_prompts: int, studies: int, resamples: int) -> float:
    hits = total = 0
    for seed in range(studies):
        votes = simulate_votes(STRENGTHS, n_votes=18 * n_prompts, n_prompts=n_prompts, seed=seed)
        result = bradley_terry(
            votes.model_a, votes.model_b, votes.outcome, prompt_idx=votes.prompt_idx,
            n_resamples=resamples, seed=seed,
        )  # fmt: skip
        truth = votes.true_scores
        hits += int(np.sum((result.low <= truth) & (truth <= result.high)))
        total += truth.size
    return hits / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=300)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--prompts", type=int, nargs="+", default=[10, 20, 50])
    args = parser.parse_args()
    print(f"95% percentile intervals, {args.studies} simulated studies x 4 models each")
    print(f"{'prompts':>8} {'mean rating':>12} {'Bradley-Terry':>14} {'seconds':>8}")
    for n in args.prompts:
        started = time.perf_counter()
        mean = mean_coverage(n, args.studies, args.resamples)
        bt = bt_coverage(n, args.studies, args.resamples)
        print(f"{n:>8} {mean:>12.1%} {bt:>14.1%} {time.perf_counter() - started:>8.1f}")


if __name__ == "__main__":
    main()
