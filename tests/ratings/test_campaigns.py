"""Creating campaigns: criteria, items made from the chosen sets, gold items, states."""

from __future__ import annotations

from collections import Counter

import pytest

from ratings.models import Campaign, Criterion, Item
from ratings.presets import CriterionSpec, criterion_preset
from ratings.services.campaigns import CampaignInvalid, campaign_create, campaign_set_status
from tests.ratings.factories import make_campaign, make_catalog

ALL = (("realism", "rate"), ("relevance", "rate"), ("realism", "compare"), ("diversity", "grid"))


def images_of(item: Item):
    return [ii.image for ii in item.images.select_related("image__image_set__model")]


def test_rate_items_are_one_per_generated_image(catalog):
    sets, reference = catalog
    campaign = make_campaign(sets, criteria=[("realism", "rate")])
    rate = campaign.items.filter(kind="rate", gold="")
    assert rate.count() == sum(s.images.count() for s in sets) == 36
    shown = sorted(img.pk for item in rate for img in images_of(item))
    assert shown == sorted(img.pk for s in sets for img in s.images.all())


def test_compare_pairs_show_two_models_on_one_prompt_balanced_across_model_pairs(catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, criteria=[("realism", "compare")], pairs_per_prompt=2)
    pairs = list(campaign.items.filter(kind="compare"))
    per_model_pair = Counter()
    for item in pairs:
        a, b = images_of(item)
        assert a.prompt_id == b.prompt_id == item.prompt_id
        assert a.image_set.model_id != b.image_set.model_id
        per_model_pair[frozenset((a.image_set.model_id, b.image_set.model_id))] += 1
    # 3 models -> 3 model pairs; 3 prompts x 2 pairs each.
    assert sorted(per_model_pair.values()) == [6, 6, 6]
    # Neither model of a pair is always the stored "first" one.
    firsts = Counter(images_of(item)[0].image_set.model_id for item in pairs)
    assert len(firsts) == 3


def test_compare_skips_prompts_a_model_lacks_so_pairs_stay_balanced(tmp_path, db):
    from tests.ratings.factories import PROMPTS, import_set

    a = import_set(tmp_path, "a", model="ma", prompts=PROMPTS[:3], per_prompt=2, seed=1)
    b = import_set(tmp_path, "b", model="mb", prompts=PROMPTS[:3], per_prompt=2, seed=2)
    c = import_set(tmp_path, "c", model="mc", prompts=PROMPTS[:2], per_prompt=2, seed=3)
    campaign = make_campaign([a, b, c], criteria=[("realism", "compare")], pairs_per_prompt=1)
    items = list(campaign.items.all())
    assert {item.prompt.text for item in items} == set(PROMPTS[:2])
    assert len(items) == 2 * 3


def test_grids_hold_four_to_nine_images_of_one_set_and_one_prompt(tmp_path, db):
    sets, _ = make_catalog(tmp_path, models=2, prompts=2, per_prompt=9, references=0)
    campaign = make_campaign(sets, criteria=[("diversity", "grid")], grid_size=4)
    grids = list(campaign.items.filter(kind="grid"))
    assert len(grids) == 2 * 2 * 2  # two disjoint grids of 4 out of each 9
    used = []
    for item in grids:
        imgs = images_of(item)
        assert len(imgs) == 4
        assert len({i.image_set_id for i in imgs}) == 1 and len({i.prompt_id for i in imgs}) == 1
        used += [i.pk for i in imgs]
    assert len(used) == len(set(used))


def test_a_group_smaller_than_the_grid_size_makes_one_grid_of_all_its_images(catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, criteria=[("diversity", "grid")], grid_size=6)
    sizes = [item.images.count() for item in campaign.items.all()]
    assert sizes == [4] * 9


def test_gold_items_are_real_photos_for_realism_and_mismatched_prompts_for_relevance(catalog):
    sets, reference = catalog
    campaign = make_campaign(
        sets, reference, criteria=[("realism", "rate"), ("relevance", "rate")], gold_items=4
    )
    realism = list(campaign.items.filter(gold="realism"))
    relevance = list(campaign.items.filter(gold="relevance"))
    assert len(realism) == 4 and len(relevance) == 4
    for item in realism:
        (img,) = images_of(item)
        assert img.image_set_id == reference.pk
        assert item.gold_answer == {"realism": [4, 5]}
    for item in relevance:
        (img,) = images_of(item)
        assert img.image_set.kind == "generated"
        assert item.shown_prompt_id != item.prompt_id == img.prompt_id
        assert item.gold_answer == {"relevance": [1, 2]}


def test_the_same_seed_makes_the_same_items(catalog):
    sets, reference = catalog

    def layout(campaign):
        return sorted(
            (item.kind, item.gold, tuple(i.pk for i in images_of(item)))
            for item in campaign.items.all()
        )

    one = make_campaign(sets, reference, criteria=ALL, name="one", seed=7, gold_items=3)
    two = make_campaign(sets, reference, criteria=ALL, name="two", seed=7, gold_items=3)
    three = make_campaign(sets, reference, criteria=ALL, name="three", seed=8, gold_items=3)
    assert layout(one) == layout(two) != layout(three)


def test_item_images_have_tokens_that_are_not_catalog_ids(catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, criteria=ALL)
    tokens = [ii.token for item in campaign.items.all() for ii in item.images.all()]
    assert len(tokens) == len(set(tokens))
    assert all(len(t) >= 20 and not t.isdigit() for t in tokens)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda sets, ref: dict(image_sets=[ref]), "is a reference set"),
        (lambda sets, ref: dict(image_sets=sets[:1], criteria=[("realism", "compare")]),
         "at least two different models"),
        (lambda sets, ref: dict(image_sets=sets, criteria=[]), "at least one criterion"),
        (lambda sets, ref: dict(image_sets=[], criteria=[("realism", "rate")]),
         "at least one generated image set"),
        (lambda sets, ref: dict(image_sets=sets, reference_set=sets[0]),
         "is not a reference set"),
    ],
)  # fmt: skip
def test_a_campaign_that_cannot_work_is_refused_with_the_reason_and_nothing_is_written(
    catalog, build, message
):
    sets, reference = catalog
    kwargs = {"criteria": [("realism", "rate")], "reference_set": None, **build(sets, reference)}
    kwargs["criteria"] = [criterion_preset(k, p) for k, p in kwargs["criteria"]]
    with pytest.raises(CampaignInvalid, match=message):
        campaign_create(name="bad", **kwargs)
    assert not Campaign.objects.exists() and not Item.objects.exists()


def test_grid_refuses_sets_with_fewer_than_four_images_per_prompt(tmp_path, db):
    sets, _ = make_catalog(tmp_path, models=1, prompts=2, per_prompt=3, references=0)
    with pytest.raises(CampaignInvalid, match="at least 4 images of one set for the same prompt"):
        make_campaign(sets, criteria=[("diversity", "grid")])


def test_a_custom_criterion_needs_a_label_on_every_point(catalog):
    sets, _ = catalog
    spec = CriterionSpec(key="charm", protocol="rate", name="Charm", question="How charming?",
                         labels=("meh", "", "lovely"))  # fmt: skip
    with pytest.raises(CampaignInvalid, match="give a label for each of 2 to 10 scale points"):
        campaign_create(name="c", image_sets=sets, criteria=[spec])
    spec = CriterionSpec(key="charm", protocol="rate", name="Charm", question="How charming?",
                         labels=("meh", "fine", "lovely"))  # fmt: skip
    campaign = campaign_create(name="c", image_sets=sets, criteria=[spec])
    assert Criterion.objects.get(campaign=campaign).points == 3


def test_campaign_states_move_draft_open_paused_closed_and_never_back_from_closed(catalog):
    sets, _ = catalog
    campaign = make_campaign(sets, open_=False)
    assert campaign.status == "draft"
    for status in ("open", "paused", "open", "closed"):
        assert campaign_set_status(campaign=campaign, status=status).status == status
    assert campaign.opened_at and campaign.closed_at
    with pytest.raises(CampaignInvalid, match="a closed campaign cannot become open"):
        campaign_set_status(campaign=campaign, status="open")


def test_default_criteria_label_every_point_and_offer_cant_tell():
    for key in ("realism", "relevance", "creativity"):
        spec = criterion_preset(key)
        assert len(spec.labels) == 5 and all(spec.labels) and spec.allow_cant_tell
    assert criterion_preset("relevance").shows_prompt
    assert len(criterion_preset("diversity", "grid").labels) == 5
    with pytest.raises(ValueError, match="diversity cannot be asked under 'rate'"):
        criterion_preset("diversity", "rate")
