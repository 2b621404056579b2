"""``python manage.py export_report CAMPAIGN --format csv|json|html -o PATH [--include-flagged]``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ratings.models import Campaign
from ratings.report import report_build
from ratings.report.exports import EXTENSIONS, FORMATS, report_export


class Command(BaseCommand):
    help = "Export a campaign's comparison report as a CSV zip, JSON or self-contained HTML."

    def add_arguments(self, parser):
        parser.add_argument("campaign", help="campaign id or exact name")
        parser.add_argument("--format", choices=FORMATS, required=True, dest="fmt")
        parser.add_argument("-o", "--output", required=True, help="file to write")
        parser.add_argument(
            "--include-flagged",
            action="store_true",
            help="include the ratings of flagged and excluded judges",
        )
        parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
        parser.add_argument("--seed", type=int, default=0, help="bootstrap seed")

    def handle(self, *args, campaign, fmt, output, include_flagged, resamples, seed, **options):
        found = _campaign(campaign)
        if resamples < 1:
            raise CommandError(f"--resamples must be at least 1; got {resamples}.")
        target = Path(output)
        if target.is_dir():
            raise CommandError(
                f"{target} is a folder: give a file name, e.g. {target}/report.{fmt}"
            )
        if not target.parent.exists():
            raise CommandError(f"folder {target.parent} does not exist: create it first.")
        wanted = EXTENSIONS[fmt]
        if target.suffix and target.suffix.lower() != f".{wanted}":
            what = "a zip of CSV files" if fmt == "csv" else f"a .{wanted} file"
            raise CommandError(
                f"--format {fmt} writes {what}, but -o names {target.name}: "
                f"use -o {target.with_suffix('.' + wanted)} (nothing was written)."
            )
        report = report_build(
            campaign=found,
            include_flagged=include_flagged,
            n_resamples=resamples,
            seed=seed,
            plots=fmt == "html",
        )
        data = report_export(report, campaign=found, fmt=fmt)
        # Write to a temporary file and rename: a failed export never leaves half a file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".export-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            # mkstemp creates 0600; the export is an ordinary file and follows the umask.
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        counts = report.meta.counts
        self.stdout.write(
            f"Wrote {target} ({len(data):,} bytes): {counts.ratings_used} of "
            f"{counts.ratings} ratings used, {counts.models} models."
        )


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _campaign(ref: str) -> Campaign:
    campaign = None
    if ref.isdigit():
        campaign = Campaign.objects.filter(pk=int(ref)).first()
    if campaign is None:
        campaign = Campaign.objects.filter(name=ref).first()
    if campaign is None:
        known = ", ".join(f"{c.pk} ({c.name})" for c in Campaign.objects.order_by("pk")[:10])
        raise CommandError(
            f"No campaign with id or name {ref!r}. Campaigns: {known or 'none yet'}."
        )
    return campaign
