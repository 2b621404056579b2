"""A campaign with a known truth, written straight to the database with bulk_create.

Ratings come from :func:`ratings.stats.simulate.simulate_ratings` (one image per model and
prompt, distinct judges per image), votes from a Bradley-Terry model with known strengths,
metric runs with chosen values and per-image values. Used by the report tests and by
benchmarks/report_speed.py (100,000 ratings).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from django.utils import timezone
from PIL import Image as PILImage

from metrics.models import Image, ImageSet, MetricRun, MetricRunItem, ModelUnderTest, Prompt
from metrics.storage import blob_relpath, blob_write
from ratings.models import Assignment, Campaign, Criterion, Item, ItemImage, Judge, Rating
from ratings.stats.simulate import simulate_ratings

SCALE = ["1 awful", "2 poor", "3 fair", "4 good", "5 excellent"]
COMPARE = ["A is better", "B is better", "About the same", "Both are bad"]
CHOICES = {0: "first", 1: "second", 2: "tie", 3: "both_bad"}


@dataclass
class Built:
    campaign: Campaign
    sets: list[ImageSet]
    reference: ImageSet | None
    prompts: list[Prompt]
    judges: list[Judge]
    images: np.ndarray  # (models x prompts) image ids
    truth: dict[str, np.ndarray] = field(default_factory=dict)
    simulated: dict[str, object] = field(default_factory=dict)


def _png(seed: int, size: int = 24) -> bytes:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, 3)
    arr = np.clip(base + rng.integers(-40, 40, (size, size, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def build_campaign(
    *,
    true_means=(2.2, 2.8, 3.4, 4.0),
    n_prompts: int = 30,
    n_judges: int = 10,
    ratings_per_item: int = 3,
    rate_criteria=("realism", "relevance"),
    compare_scores=None,
    votes_per_item: int = 3,
    metrics: dict[str, list[float]] | None = None,
    per_image: dict[str, np.ndarray] | None = None,
    write_images: bool = False,
    name: str = "known truth",
    seed: int = 0,
    noise_sd: float = 0.7,
    compare_key: str = "preference",
) -> Built:
    """Catalog rows, a campaign, items, judges, assignments, ratings and metric runs."""
    rng = np.random.default_rng(seed + 1000)
    mu = np.asarray(true_means, dtype=np.float64)
    n_models = mu.size
    now = timezone.now()
    mut = ModelUnderTest.objects.bulk_create(
        [ModelUnderTest(name=f"{name}-model-{k}", version="1") for k in range(n_models)]
    )
    sets = ImageSet.objects.bulk_create(
        [ImageSet(name=f"{name}-set-{k}", kind="generated", model=m) for k, m in enumerate(mut)]
    )
    reference = ImageSet.objects.create(name=f"{name}-reference", kind="reference")
    texts = [f"{name} prompt {p}" for p in range(n_prompts)]
    Prompt.objects.bulk_create([Prompt(text=t, text_sha256=Prompt.hash_text(t)) for t in texts])
    prompts = list(Prompt.objects.filter(text__in=texts).order_by("id"))

    images = []
    for k, s in enumerate(sets):
        for p, prompt in enumerate(prompts):
            key = f"{name}-{k}-{p}"
            sha = hashlib.sha256(key.encode()).hexdigest()
            blob = blob_relpath(sha, ".png")
            if write_images:
                blob_write(_png(k * 100_000 + p), blob)
            images.append(
                Image(image_set=s, filename=f"img-{p:05d}.png", sha256=sha, blob=blob, width=24,
                      height=24, format="PNG", mode="RGB", byte_size=100, prompt=prompt)
            )  # fmt: skip
    Image.objects.bulk_create(images, batch_size=2000)
    image_ids = np.array(
        Image.objects.filter(image_set__in=sets)
        .order_by("image_set_id", "filename")
        .values_list("id", flat=True)
    ).reshape(n_models, n_prompts)

    campaign = Campaign.objects.create(
        name=name, instructions="rate", status="open", reference_set=reference, gold_items=0
    )
    campaign.image_sets.set(sets)
    criteria = [
        Criterion(campaign=campaign, key=key, protocol="rate", name=key.title(), question="?",
                  labels=SCALE, position=k)
        for k, key in enumerate(rate_criteria)
    ]  # fmt: skip
    if compare_scores is not None:
        criteria.append(
            Criterion(campaign=campaign, key=compare_key, protocol="compare", name=compare_key.title(),
                      question="?", labels=COMPARE, position=len(criteria))
        )  # fmt: skip
    criteria = Criterion.objects.bulk_create(criteria)
    judges = Judge.objects.bulk_create(
        [Judge(campaign=campaign, source="link", external_id=f"j{k}") for k in range(n_judges)]
    )

    rate_items = Item.objects.bulk_create(
        [
            Item(campaign=campaign, kind="rate", prompt=prompts[p], shown_prompt=prompts[p])
            for k in range(n_models)
            for p in range(n_prompts)
        ],
        batch_size=2000,
    )
    ItemImage.objects.bulk_create(
        [
            ItemImage(item=item, image_id=int(image_ids.flat[i]), position=0)
            for i, item in enumerate(rate_items)
        ],
        batch_size=2000,
    )
    built = Built(campaign, sets, reference, prompts, judges, image_ids)
    answers: list[
        tuple[int, int, int, int | None, str]
    ] = []  # judge, item, criterion, value, choice
    for c, crit in enumerate(criteria[: len(rate_criteria)]):
        sim = simulate_ratings(
            mu, n_prompts=n_prompts, n_judges=n_judges, ratings_per_item=ratings_per_item,
            noise_sd=noise_sd, scale=(1, 5), seed=seed + c,
        )  # fmt: skip
        built.simulated[crit.key] = sim
        for j, i, v in zip(sim.judge_idx, sim.item_idx, sim.score, strict=True):
            answers.append((int(j), rate_items[int(i)].pk, crit.pk, int(v), ""))

    if compare_scores is not None:
        s = np.asarray(compare_scores, dtype=np.float64)
        built.truth[compare_key] = s - s.mean()
        pairs = [(a, b, p) for p in range(n_prompts) for a, b in combinations(range(n_models), 2)]
        compare_items = Item.objects.bulk_create(
            [Item(campaign=campaign, kind="compare", prompt=prompts[p], shown_prompt=prompts[p])
             for _, _, p in pairs],
            batch_size=2000,
        )  # fmt: skip
        item_images = []
        crit = criteria[-1]
        for item, (a, b, p) in zip(compare_items, pairs, strict=True):
            first, second = (a, b) if rng.random() < 0.5 else (b, a)
            item_images += [
                ItemImage(item=item, image_id=int(image_ids[first, p]), position=0),
                ItemImage(item=item, image_id=int(image_ids[second, p]), position=1),
            ]
            prob_first = 1.0 / (1.0 + np.exp(-(s[first] - s[second])))
            for j in rng.permutation(n_judges)[:votes_per_item]:
                code = 0 if rng.random() < prob_first else 1
                answers.append((int(j), item.pk, crit.pk, None, CHOICES[code]))
        ItemImage.objects.bulk_create(item_images, batch_size=2000)

    pairs_done = sorted({(j, i) for j, i, *_ in answers})
    assignments = Assignment.objects.bulk_create(
        [
            Assignment(campaign=campaign, item_id=i, judge=judges[j], status="done",
                       leased_at=now, expires_at=now, submitted_at=now,
                       time_ms=int(rng.integers(1500, 9000)))
            for j, i in pairs_done
        ],
        batch_size=2000,
    )  # fmt: skip
    assignment_of = {pair: a.pk for pair, a in zip(pairs_done, assignments, strict=True)}
    Rating.objects.bulk_create(
        [
            Rating(assignment_id=assignment_of[(j, i)], judge=judges[j], item_id=i,
                   criterion_id=c, value=v, choice=ch, time_ms=int(rng.integers(1500, 9000)))
            for j, i, c, v, ch in answers
        ],
        batch_size=2000,
    )  # fmt: skip

    for metric, values in (metrics or {}).items():
        runs = MetricRun.objects.bulk_create(
            [
                MetricRun(metric=metric, image_set=s, status="done", value=float(values[k]),
                          reference_set=reference if metric in ("fid", "kid", "novelty") else None,
                          finished_at=now, provenance={"seed": 0, "test": True},
                          params={"threshold": 0.9} if metric == "novelty" else {})
                for k, s in enumerate(sets)
            ]
        )  # fmt: skip
        if per_image and metric in per_image:
            table = per_image[metric]  # (models x prompts)
            MetricRunItem.objects.bulk_create(
                [
                    MetricRunItem(run=run, image_id=int(image_ids[k, p]), value=float(table[k, p]))
                    for k, run in enumerate(runs)
                    for p in range(n_prompts)
                ],
                batch_size=2000,
            )
    return built


def expected_ratings(true_means, *, noise_sd: float = 0.7, seed: int = 99) -> np.ndarray:
    """The expected rounded-and-clipped rating of each model over the prompt population.

    The simulation rounds and clips scores to the 1-5 scale, so the truth a mean rating
    estimates is this expectation (computed by simulation with many prompts), not ``mu``.
    """
    sim = simulate_ratings(
        np.asarray(true_means, dtype=np.float64), n_prompts=20_000, n_judges=3,
        ratings_per_item=3, noise_sd=noise_sd, scale=(1, 5), seed=seed,
    )  # fmt: skip
    sums = np.bincount(sim.model_idx, weights=sim.score)
    return sums / np.bincount(sim.model_idx)
