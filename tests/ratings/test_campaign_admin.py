"""Editing, deleting and duplicating campaigns: drafts change through the item-building service."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ratings.forms import CampaignForm
from ratings.models import Campaign, Item, ItemImage
from ratings.presets import criterion_preset
from ratings.services.campaigns import (
    CampaignInvalid,
    campaign_delete,
    campaign_duplicate,
    campaign_set_status,
    campaign_update,
)
from tests.ratings.factories import make_campaign


def test_editing_a_draft_remakes_its_items_from_the_new_settings(catalog):
    sets, reference = catalog
    draft = make_campaign(sets[:2], reference, open_=False, name="typo nmae")
    before = set(draft.items.values_list("pk", flat=True))
    updated = campaign_update(
        campaign=draft,
        name="typo name",
        image_sets=sets,
        criteria=[criterion_preset("realism", "compare")],
        reference_set=None,
        pairs_per_prompt=1,
        image_side=512,
    )
    assert updated.pk == draft.pk and updated.name == "typo name" and updated.image_side == 512
    assert list(updated.criteria.values_list("key", "protocol")) == [("realism", "compare")]
    kinds = set(Item.objects.filter(campaign=draft).values_list("kind", flat=True))
    assert kinds == {"compare"} and not before & set(draft.items.values_list("pk", flat=True))
    # 3 prompts x 3 model pairs x 1 pair each, no gold (no reference set any more).
    assert draft.items.count() == 9
    assert not ItemImage.objects.filter(item_id__in=before).exists()


def test_a_bad_edit_changes_nothing(catalog):
    sets, reference = catalog
    draft = make_campaign(sets, reference, open_=False)
    items = set(draft.items.values_list("pk", flat=True))
    with pytest.raises(CampaignInvalid, match="compare needs generated sets of at least two"):
        campaign_update(
            campaign=draft,
            name="renamed",
            image_sets=sets[:1],
            criteria=[criterion_preset("realism", "compare")],
        )
    draft.refresh_from_db()
    assert draft.name == "test campaign" and set(draft.items.values_list("pk", flat=True)) == items


def test_only_drafts_are_edited_or_deleted(catalog):
    sets, reference = catalog
    opened = make_campaign(sets, reference)
    with pytest.raises(CampaignInvalid, match="only a draft can be edited"):
        campaign_update(
            campaign=opened, name="x", image_sets=sets, criteria=[criterion_preset("realism")]
        )
    with pytest.raises(CampaignInvalid, match="not a draft"):
        campaign_delete(campaign=opened)
    assert Campaign.objects.filter(pk=opened.pk).exists()


def test_deleting_a_draft_removes_it_with_its_items(catalog):
    sets, reference = catalog
    draft = make_campaign(sets, reference, open_=False)
    campaign_delete(campaign=draft)
    assert not Campaign.objects.exists() and not Item.objects.exists()


def test_any_campaign_duplicates_as_a_new_draft_with_the_same_settings(catalog):
    sets, reference = catalog
    original = make_campaign(
        sets, reference, criteria=[("realism", "rate"), ("diversity", "grid")], target_ratings=5
    )
    campaign_set_status(campaign=original, status="closed")
    copy = campaign_duplicate(campaign=original)
    again = campaign_duplicate(campaign=original)
    assert (copy.name, again.name) == ("test campaign (copy)", "test campaign (copy 2)")
    assert copy.status == "draft" and copy.target_ratings == 5
    assert copy.key != original.key and copy.completion_code != original.completion_code
    assert list(copy.criteria.values_list("key", "protocol")) == [
        ("realism", "rate"),
        ("diversity", "grid"),
    ]
    assert copy.items.count() == original.items.count()


def test_the_edit_form_starts_from_the_drafts_settings(catalog):
    sets, reference = catalog
    draft = make_campaign(
        sets, reference, open_=False, criteria=[("realism", "compare")], exposure_ms=1500
    )
    initial = CampaignForm.initial_from(draft)
    assert initial["criterion_realism"] == ["compare"] and initial["exposure_seconds"] == 1.5
    assert sorted(initial["image_sets"]) == sorted(s.pk for s in sets)


def test_edit_delete_and_duplicate_from_the_pages(admin_client, catalog):
    sets, reference = catalog
    draft = make_campaign(sets, reference, open_=False)
    edit = reverse("ratings:campaign_edit", args=[draft.pk])
    page = admin_client.get(edit).content.decode()
    assert "Edit draft test campaign" in page and 'value="test campaign"' in page
    data = {
        **CampaignForm.initial_from(draft),
        "name": "renamed",
        "criterion_realism": ["rate"],
        "image_side": "1024",
        "image_fit": "crop",
    }
    data = {k: v for k, v in data.items() if v is not None}
    data["allow_link"] = "on"
    response = admin_client.post(edit, data)
    assert response["Location"] == draft.get_absolute_url()
    draft.refresh_from_db()
    assert (draft.name, draft.image_side, draft.image_fit) == ("renamed", 1024, "crop")
    copy = admin_client.post(reverse("ratings:campaign_duplicate", args=[draft.pk]))
    assert Campaign.objects.filter(name="renamed (copy)").exists()
    assert copy.status_code == 302
    admin_client.post(reverse("ratings:campaign_delete", args=[draft.pk]))
    assert list(Campaign.objects.values_list("name", flat=True)) == ["renamed (copy)"]


def test_form_errors_are_listed_at_the_top(admin_client, catalog):
    sets, reference = catalog
    response = admin_client.post(reverse("ratings:campaign_new"), {"name": "x", "gold_rate": "9"})
    html = response.content.decode()
    assert response.status_code == 400
    top = html.index('id="form-errors"')
    form = html.index('class="form campaign-form"')
    assert top < form and "Gold rate" in html[top:form]


def test_default_instructions_say_what_the_protocols_ask():
    from ratings.presets import instructions_for

    compare_only = instructions_for([criterion_preset("realism", "compare")])
    assert "keys 1 to 4" in compare_only and "scale from 1 to 5" not in compare_only
    rate = instructions_for([criterion_preset("realism", "rate")])
    assert "scale from 1 to 5" in rate and "Can't tell" in rate and "keys 1 to 4" not in rate


def test_the_raw_admin_cannot_change_what_shapes_the_items(admin_client, catalog):
    sets, reference = catalog
    draft = make_campaign(sets, reference, open_=False)
    page = admin_client.get(reverse("admin:ratings_campaign_change", args=[draft.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="image_sets"' not in html and 'name="grid_size"' not in html
    assert 'name="criteria-0-question"' not in html
