"""Time the statistics of a full comparison report on a campaign of the issue's size.

    .venv/bin/python benchmarks/report_stats.py [--resamples 1000] [--repeat 3]

The campaign (simulated, seeded): 8 models, 1,390 prompts, one image per model and prompt,
3 criteria, 3 ratings per image and criterion (100,080 ratings), 60 judges; 20,000 pairwise
votes; 10 metrics per model (6 set-level such as FID, 4 per-image such as CLIP score).

Timed, with 1,000 resamples each: per criterion the per-model means with a prompt bootstrap,
the paired tests of all 28 pairs (Wilcoxon and paired bootstrap, Holm), Krippendorff's alpha
(ordinal, and interval as a check) with a unit bootstrap and the judge table; Bradley-Terry
with a prompt bootstrap and the win-rate matrix; system-level correlations of every criterion
with every metric (prompt-bootstrap intervals, per-image metrics resampled with the same
prompts) and item-level correlations of every criterion with every per-image metric. The issue
asks for the whole report in under 5 s on a 2-core machine; this is the statistics part.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

# Run as a script from anywhere: the repository root holds the ratings package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ratings.stats import (  # noqa: E402
    bradley_terry,
    group_means,
    item_correlation,
    judge_agreement,
    krippendorff_alpha_bootstrap,
    model_means_bootstrap,
    paired_tests,
    resample_counts,
    system_correlation,
    win_rates,
)
from ratings.stats.simulate import simulate_ratings, simulate_votes  # noqa: E402

N_MODELS = 8
N_PROMPTS = 1390
CRITERIA = ("realism", "relevance", "aesthetics")
SET_METRICS = {
    "FID": True,
    "KID": True,
    "CMMD": True,
    "IS": False,
    "precision": False,
    "Vendi": False,
}
IMAGE_METRICS = {"CLIP score": False, "SSIM": False, "PSNR": False, "LPIPS": True}


def build_campaign(seed: int = 0) -> dict:
    """Simulated ratings, votes and metric values of the benchmark campaign."""
    truth = np.linspace(2.5, 4.0, N_MODELS)
    rng = np.random.default_rng(seed)
    criteria = {
        name: simulate_ratings(
            truth + rng.normal(0, 0.1, N_MODELS),
            n_prompts=N_PROMPTS,
            n_judges=60,
            ratings_per_item=3,
            judge_sd=0.3,
            scale=(1, 5),
            seed=seed + k,
        )
        for k, name in enumerate(CRITERIA)
    }
    votes = simulate_votes(
        truth - truth.mean(),
        n_votes=20_000,
        n_prompts=N_PROMPTS,
        tie_rate=0.1,
        both_bad_rate=0.05,
        seed=seed,
    )
    n_images = N_MODELS * N_PROMPTS
    image_model, image_prompt = np.divmod(np.arange(n_images), N_PROMPTS)
    per_image = {
        name: (-1 if lower else 1) * truth[image_model] + rng.normal(0, 1.0, n_images)
        for name, lower in IMAGE_METRICS.items()
    }
    per_model = {
        name: (-1 if lower else 1) * truth + rng.normal(0, 0.3, N_MODELS)
        for name, lower in SET_METRICS.items()
    }
    return {
        "criteria": criteria,
        "votes": votes,
        "image_model": image_model,
        "image_prompt": image_prompt,
        "per_image": per_image,
        "per_model": per_model,
    }


def run_statistics(campaign: dict, n_resamples: int, seed: int = 0) -> dict[str, float]:
    """Compute every statistic of the report once; return seconds spent per part."""
    times: dict[str, float] = {}

    def timed(part: str, start: float) -> None:
        times[part] = times.get(part, 0.0) + time.perf_counter() - start

    t = time.perf_counter()
    counts = resample_counts(N_PROMPTS, n_resamples, seed)
    timed("resample counts (shared)", t)
    means = {}
    for name, sim in campaign["criteria"].items():
        t = time.perf_counter()
        means[name] = model_means_bootstrap(
            sim.model_idx, sim.prompt_idx, sim.score, counts=counts, keep_replicates=True
        )
        timed("means + prompt bootstrap", t)
        t = time.perf_counter()
        paired_tests(sim.model_idx, sim.prompt_idx, sim.score, counts=counts)
        timed("paired tests (28 pairs, Holm)", t)
        t = time.perf_counter()
        krippendorff_alpha_bootstrap(
            sim.item_idx, sim.score, level="ordinal", n_resamples=n_resamples, seed=seed
        )
        krippendorff_alpha_bootstrap(
            sim.item_idx, sim.score, level="interval", n_resamples=n_resamples, seed=seed
        )
        timed("alpha ordinal + interval, bootstrap", t)
        t = time.perf_counter()
        judge_agreement(sim.judge_idx, sim.item_idx, sim.score)
        timed("judge table", t)

    votes = campaign["votes"]
    t = time.perf_counter()
    win_rates(votes.model_a, votes.model_b, votes.outcome)
    bradley_terry(
        votes.model_a,
        votes.model_b,
        votes.outcome,
        prompt_idx=votes.prompt_idx,
        n_resamples=n_resamples,
        seed=seed,
    )
    timed("Bradley-Terry + bootstrap, win rates", t)

    t = time.perf_counter()
    metric_reps = {
        name: model_means_bootstrap(
            campaign["image_model"],
            campaign["image_prompt"],
            values,
            counts=counts,
            keep_replicates=True,
        )
        for name, values in campaign["per_image"].items()
    }
    for crit in CRITERIA:
        human = means[crit]
        for name, value in campaign["per_model"].items():
            system_correlation(
                human.mean,
                value,
                lower_is_better=SET_METRICS[name],
                metric_name=name,
                human_replicates=human.replicates,
            )
        for name, reps in metric_reps.items():
            system_correlation(
                human.mean,
                reps.mean,
                lower_is_better=IMAGE_METRICS[name],
                metric_name=name,
                human_replicates=human.replicates,
                metric_replicates=reps.replicates,
            )
    timed("system correlations (30, bootstrap)", t)

    t = time.perf_counter()
    for sim in campaign["criteria"].values():
        item_mean, _ = group_means(sim.item_idx, sim.score, N_MODELS * N_PROMPTS)
        for name, values in campaign["per_image"].items():
            item_correlation(
                item_mean, values, lower_is_better=IMAGE_METRICS[name], metric_name=name
            )
    timed("item correlations (12 x 11,120 images)", t)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    campaign = build_campaign()
    n_ratings = sum(sim.score.size for sim in campaign["criteria"].values())
    print(
        f"{n_ratings:,} ratings, {N_MODELS} models, {N_PROMPTS:,} prompts, {len(CRITERIA)} criteria, "
        f"{campaign['votes'].outcome.size:,} votes, {args.resamples:,} resamples; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    )
    runs = [run_statistics(campaign, args.resamples) for _ in range(args.repeat)]
    parts = list(runs[0])
    width = max(len(p) for p in parts)
    print(f"{'part':<{width}}  best (s)  median (s)")
    for part in parts:
        values = sorted(r[part] for r in runs)
        print(f"{part:<{width}}  {values[0]:8.3f}  {values[len(values) // 2]:10.3f}")
    totals = sorted(sum(r.values()) for r in runs)
    print(f"{'total':<{width}}  {totals[0]:8.3f}  {totals[len(totals) // 2]:10.3f}")


if __name__ == "__main__":
    main()
