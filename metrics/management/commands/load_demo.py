"""python manage.py load_demo: a small procedurally generated study to look at."""

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from metrics.services.demo import demo_load


class Command(BaseCommand):
    help = "Import the demo image sets (three fake models and a reference set); idempotent."

    def add_arguments(self, parser):
        parser.add_argument(
            "--admin-password",
            default=os.environ.get("EVALSITE_DEMO_ADMIN_PASSWORD", "admin"),
            help="password of the local 'admin' researcher account created if missing",
        )

    def _start_pixel_runs(self) -> None:
        """SSIM and PSNR of the demo edits (no weights needed): something to look at at once."""
        from metrics.models import ImageSet, MetricRun
        from metrics.services.runs import metric_run_create

        edits = ImageSet.objects.get(name="edits-demo")
        for metric in ("ssim", "psnr"):
            if not MetricRun.objects.filter(image_set=edits, metric=metric).exists():
                run = metric_run_create(metric=metric, image_set=edits)
                self.stdout.write(f"queued {metric} of edits-demo (run {run.pk})")

    def handle(self, *args, admin_password: str, **options):
        for result in demo_load():
            self.stdout.write(
                f"{result.image_set.name}: {result.created} imported, {result.unchanged} already there"
            )
        self._start_pixel_runs()
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", "admin@localhost", admin_password)
            self.stdout.write(f"created researcher account admin (password: {admin_password})")
