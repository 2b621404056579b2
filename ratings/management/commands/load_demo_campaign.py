"""python manage.py load_demo_campaign: an open campaign over the demo sets, and a judge account."""

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from ratings.services.campaigns import CampaignInvalid, campaign_invite
from ratings.services.demo import demo_campaign_load


class Command(BaseCommand):
    help = "Create and open the demo rating campaign (after load_demo), with a judge account; idempotent."

    def add_arguments(self, parser):
        parser.add_argument(
            "--judge-password",
            default=os.environ.get("EVALSITE_DEMO_JUDGE_PASSWORD", "judge"),
            help="password of the local 'judge' account created if missing",
        )

    def handle(self, *args, judge_password: str, **options):
        try:
            campaign, created = demo_campaign_load()
        except CampaignInvalid as exc:
            raise CommandError("; ".join(exc.problems)) from None
        counts = campaign.items.values_list("kind", flat=True)
        self.stdout.write(
            f"{campaign.name}: {'created' if created else 'already there'}, {len(counts)} items, {campaign.status}"
        )
        User = get_user_model()
        judge = User.objects.filter(username="judge").first()
        if judge is None:
            judge = User.objects.create_user("judge", password=judge_password)
            self.stdout.write(f"created judge account judge (password: {judge_password})")
        if not judge.is_staff:
            campaign_invite(campaign=campaign, users=[judge])
        self.stdout.write(f"judge link: {reverse('ratings:entry', args=[campaign.key])}")
