"""python manage.py create_judge NAME [--password P] [--campaign ID ...]: a judge account."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ratings.models import Campaign
from ratings.services.campaigns import CampaignInvalid, campaign_invite, judge_role_grant


class Command(BaseCommand):
    help = "Create a judge account (or give an existing one the judge role) and invite it to campaigns."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", help="required for a new account")
        parser.add_argument(
            "--campaign", type=int, action="append", default=[], help="campaign id to invite it to"
        )

    def handle(self, *args, username: str, password: str | None, campaign: list[int], **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            if not password:
                raise CommandError(f"{username} is a new account: give it a --password")
            user = User.objects.create_user(username, password=password)
            self.stdout.write(f"created judge account {username}")
        elif user.is_staff:
            raise CommandError(
                f"{username} is a researcher (staff) account: researchers cannot judge"
            )
        judge_role_grant(user=user)
        campaigns = list(Campaign.objects.filter(pk__in=campaign))
        missing = sorted(set(campaign) - {c.pk for c in campaigns})
        if missing:
            raise CommandError(f"no campaign with id {', '.join(map(str, missing))}")
        for c in campaigns:
            try:
                campaign_invite(campaign=c, users=[user])
            except CampaignInvalid as exc:
                raise CommandError("; ".join(exc.problems)) from None
            self.stdout.write(f"invited {username} to {c.name}")
