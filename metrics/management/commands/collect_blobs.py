"""python manage.py collect_blobs [--grace SECONDS] [--dry-run]"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from metrics.services.blobs import blobs_collect


class Command(BaseCommand):
    help = (
        "Delete stored image files, judges' copies and temporary files that nothing refers "
        "to and that are older than the grace period. Safe while imports run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--grace",
            type=int,
            default=None,
            help="seconds a file must be old to be deleted "
            f"(default EVALSITE_BLOB_GRACE_SECONDS = {settings.EVALSITE_BLOB_GRACE_SECONDS})",
        )
        parser.add_argument("--dry-run", action="store_true", help="list, delete nothing")

    def handle(self, *args, grace, dry_run, **options):
        if grace is not None and grace < 0:
            raise CommandError("--grace must be 0 or more seconds")
        report = blobs_collect(grace_seconds=grace, dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        if options["verbosity"] > 1 or dry_run:
            for bucket in ("originals", "derivatives", "temporary", "uploads", "exports"):
                for rel in getattr(report, bucket):
                    self.stdout.write(f"{verb} {rel}")
        self.stdout.write(
            f"{verb} {report.removed} files ({len(report.originals)} originals, "
            f"{len(report.derivatives)} derivatives, {len(report.temporary)} temporary, "
            f"{len(report.uploads)} upload folders, {len(report.exports)} exports), "
            f"{report.bytes_freed:,} bytes; "
            f"kept {report.kept_young} younger than the grace period"
        )
