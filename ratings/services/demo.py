"""A demo campaign on top of the demo study (``python manage.py load_demo`` first)."""

from __future__ import annotations

from metrics import selectors as catalog
from ratings.models import Campaign
from ratings.presets import criterion_preset
from ratings.services.campaigns import CampaignInvalid, campaign_create, campaign_set_status

DEMO_CAMPAIGN = "Demo study: shapes"
DEMO_CRITERIA = (
    ("realism", "rate"),
    ("relevance", "rate"),
    ("creativity", "rate"),
    ("realism", "compare"),
    ("diversity", "grid"),
)


def demo_campaign_load(*, judge_cap: int | None = 30) -> tuple[Campaign, bool]:
    """The open demo campaign over the demo sets, made if missing; (campaign, created)."""
    existing = Campaign.objects.filter(name=DEMO_CAMPAIGN).first()
    if existing is not None:
        return existing, False
    generated = [
        s for s in catalog.image_sets_of_kind(kind="generated") if s.name.startswith("demo-")
    ]
    references = [
        s for s in catalog.image_sets_of_kind(kind="reference") if s.name == "demo-reference"
    ]
    if not generated:
        raise CampaignInvalid(
            ["the demo image sets are missing: run `python manage.py load_demo` first"]
        )
    campaign = campaign_create(
        name=DEMO_CAMPAIGN,
        title="Which pictures look best?",
        image_sets=generated,
        reference_set=references[0] if references else None,
        criteria=[criterion_preset(key, protocol) for key, protocol in DEMO_CRITERIA],
        judge_cap=judge_cap,
        allow_link=True,
        gold_rate=0.1,
        gold_items=8,
        seed=2024,
    )
    campaign_set_status(campaign=campaign, status="open")
    return campaign, True
