"""Making a campaign's items from its image sets.

- ``rate``: one item per image of the chosen sets.
- ``compare``: for each prompt that every chosen model has images for, the same
  number of pairs for every pair of models (``pairs_per_prompt``, fewer when a
  model has fewer images for the prompt), so model pairs are balanced.
- ``grid``: per set and prompt, disjoint groups of ``grid_size`` images (one group
  of all of them when there are 4 to ``grid_size`` - 1).
- gold: real photos of the reference set (realism controls, expected 4-5 of 5)
  and generated images shown with a deliberately mismatched prompt (relevance
  controls, expected 1-2 of 5).

Everything is drawn from ``random.Random(campaign.seed)``: the same campaign seed
makes the same items.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from dataclasses import dataclass

from metrics import selectors as catalog
from ratings.models import Campaign, Item, ItemImage
from ratings.models.campaigns import Protocol

MIN_GRID = 4


class ItemsInvalid(ValueError):
    """The chosen sets cannot make the asked items; ``problems`` says why and what to do."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class _Planned:
    kind: str
    images: list  # metrics Image rows, in item position order
    prompt: object | None
    shown_prompt: object | None
    gold: str = ""
    gold_answer: dict | None = None


def items_generate(*, campaign: Campaign) -> dict[str, int]:
    """Create the items of a campaign that has none; return counts by kind and gold."""
    if campaign.items.exists():
        raise ItemsInvalid([f"campaign {campaign.name!r} already has items"])
    rng = random.Random(campaign.seed)
    criteria = list(campaign.criteria.all())
    protocols = {c.protocol for c in criteria}
    set_ids = list(campaign.image_sets.values_list("pk", flat=True))
    images = list(catalog.images_in_sets(set_ids=set_ids))
    problems: list[str] = []
    if not images:
        problems.append("the chosen image sets hold no images: import some first")
        raise ItemsInvalid(problems)

    planned: list[_Planned] = []
    if Protocol.RATE in protocols:
        planned += [_Planned(Protocol.RATE, [img], img.prompt, img.prompt) for img in images]
    if Protocol.COMPARE in protocols:
        planned += _compare_items(images, campaign.pairs_per_prompt, rng, problems)
    if Protocol.GRID in protocols:
        planned += _grid_items(images, campaign.grid_size, rng, problems)
    if problems:
        raise ItemsInvalid(problems)
    rate_keys = {c.key: c for c in criteria if c.protocol == Protocol.RATE}
    if campaign.gold_items and "realism" in rate_keys and campaign.reference_set_id:
        references = list(catalog.images_in_sets(set_ids=[campaign.reference_set_id]))
        points = rate_keys["realism"].points
        for img in rng.sample(references, min(campaign.gold_items, len(references))):
            planned.append(
                _Planned(
                    Protocol.RATE,
                    [img],
                    img.prompt,
                    img.prompt,
                    Item.Gold.REALISM,
                    {"realism": [points - 1, points]},
                )
            )
    if campaign.gold_items and "relevance" in rate_keys:
        planned += _relevance_gold(images, campaign.gold_items, rng)
    return _store(campaign, planned, rng)


def _compare_items(images, per_prompt: int, rng: random.Random, problems: list[str]):
    by_prompt: dict[int, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    models = {}
    prompts = {}
    for img in images:
        if img.prompt_id is None:
            continue
        model = img.image_set.model
        models[model.pk] = model
        prompts[img.prompt_id] = img.prompt
        by_prompt[img.prompt_id][model.pk].append(img)
    if len(models) < 2:
        problems.append(
            "compare needs generated sets of at least two different models, with prompts"
        )
        return []
    out = []
    for prompt_id, per_model in sorted(by_prompt.items()):
        # Only prompts every model answered: otherwise some model pairs get more pairs.
        if len(per_model) < len(models):
            continue
        n = min(per_prompt, *(len(v) for v in per_model.values()))
        pools = {}
        for model_id, imgs in per_model.items():
            imgs = list(imgs)
            rng.shuffle(imgs)
            pools[model_id] = itertools.cycle(imgs)
        for m1, m2 in itertools.combinations(sorted(per_model), 2):
            for _ in range(n):
                pair = [next(pools[m1]), next(pools[m2])]
                rng.shuffle(pair)  # neither model is always "first" in the stored order
                out.append(_Planned(Protocol.COMPARE, pair, prompts[prompt_id], prompts[prompt_id]))
    if not out:
        problems.append("compare found no prompt that every chosen model has images for")
    return out


def _grid_items(images, grid_size: int, rng: random.Random, problems: list[str]):
    groups: dict[tuple[int, int], list] = defaultdict(list)
    for img in images:
        if img.prompt_id is not None:
            groups[(img.image_set_id, img.prompt_id)].append(img)
    out = []
    for (_set_id, _prompt_id), imgs in sorted(groups.items()):
        if len(imgs) < MIN_GRID:
            continue
        size = min(grid_size, len(imgs))
        imgs = list(imgs)
        rng.shuffle(imgs)
        for start in range(0, len(imgs) - size + 1, size):
            chunk = imgs[start : start + size]
            out.append(_Planned(Protocol.GRID, chunk, chunk[0].prompt, chunk[0].prompt))
    if not out:
        problems.append(
            f"grid needs at least {MIN_GRID} images of one set for the same prompt; none found"
        )
    return out


def _words(text: str) -> set[str]:
    return {w for w in text.lower().split() if len(w) > 2}


def _relevance_gold(images, count: int, rng: random.Random) -> list[_Planned]:
    with_prompt = [img for img in images if img.prompt_id is not None]
    prompts = {img.prompt_id: img.prompt for img in with_prompt}
    if len(prompts) < 2:
        return []
    out = []
    for img in rng.sample(with_prompt, min(count, len(with_prompt))):
        # The prompt sharing the fewest words with the true one: clearly wrong, not subtly.
        own = _words(img.prompt.text)
        others = [p for pid, p in prompts.items() if pid != img.prompt_id]
        rng.shuffle(others)
        wrong = min(others, key=lambda p: len(own & _words(p.text)))
        out.append(
            _Planned(
                Protocol.RATE, [img], img.prompt, wrong, Item.Gold.RELEVANCE, {"relevance": [1, 2]}
            )
        )
    return out


def _store(campaign: Campaign, planned: list[_Planned], rng: random.Random) -> dict[str, int]:
    rng.shuffle(planned)  # item ids carry no order of model or set
    items = Item.objects.bulk_create(
        [
            Item(
                campaign=campaign,
                kind=p.kind,
                prompt=p.prompt,
                shown_prompt=p.shown_prompt,
                gold=p.gold,
                gold_answer=p.gold_answer or {},
                rand=rng.randrange(2**31 - 1),
            )
            for p in planned
        ],
        batch_size=500,
    )
    ItemImage.objects.bulk_create(
        [
            ItemImage(item=item, image=img, position=pos)
            for item, p in zip(items, planned, strict=True)
            for pos, img in enumerate(p.images)
        ],
        batch_size=500,
    )
    counts: dict[str, int] = defaultdict(int)
    for p in planned:
        counts[f"gold_{p.gold}" if p.gold else p.kind] += 1
    return dict(counts)
