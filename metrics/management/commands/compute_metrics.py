"""python manage.py compute_metrics METRIC --set NAME [--reference NAME] [--param k=v ...]

Starts a metric run on the workers (like the web page and the API do), then waits for
it with a progress bar on stderr and prints the result, or with ``--no-wait`` prints
the run's id and page and returns at once. A worker must be running
(``make worker``), or the run stays queued.
"""

from __future__ import annotations

import json
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from metrics.forms_runs import params_check, params_from_pairs
from metrics.models import ImageSet, MetricRun
from metrics.services.recipes import RECIPES, recipe_get
from metrics.services.runs import RunRefused, metric_run_create
from metrics.views_runs import summary_text

POLL_SECONDS = 1.0


def _sleep(seconds: float) -> None:
    """Between two looks at the run's row (a seam for tests)."""
    time.sleep(seconds)


class Command(BaseCommand):
    help = (
        "Compute a metric on image sets through the workers: FID/KID/precision/... of a set "
        "against --reference, IS/CLIP score/Vendi of a set, SSIM/PSNR/LPIPS of a set's images "
        "against their sources. Waits and prints the result unless --no-wait."
    )

    def add_arguments(self, parser):
        parser.add_argument("metric", help=f"one of: {', '.join(RECIPES)}")
        parser.add_argument("--set", dest="set_name", required=True, help="image set name")
        parser.add_argument("--reference", help="reference set name (FID, KID, precision...)")
        parser.add_argument(
            "--param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a metric parameter, repeatable; VALUE is read as JSON when it parses "
            "(10, 0.5, true, null), else as a string",
        )
        parser.add_argument(
            "--no-wait", action="store_true", help="print the run's id and page, and return"
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            metavar="S",
            help="stop waiting after S seconds (the run goes on) and exit non-zero",
        )
        parser.add_argument(
            "--json", action="store_true", help="print the run as JSON (as the REST API does)"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, metric, set_name, reference, param, no_wait, timeout, **options):
        try:
            recipe = recipe_get(metric)
            params = params_check(recipe, params_from_pairs(param))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        image_set = self._set(set_name, "--set")
        reference_set = self._set(reference, "--reference") if reference else None
        try:
            run = metric_run_create(
                metric=recipe.name, image_set=image_set, reference_set=reference_set, params=params
            )
        except RunRefused as exc:
            raise CommandError(str(exc)) from None
        if no_wait:
            self._print_started(run, as_json=options["json"])
            return
        stream = options.get("stderr") or sys.stderr
        run = self._wait(run, timeout=timeout, stream=stream, progress=not options["no_progress"])
        self._print_ended(run, as_json=options["json"])

    def _set(self, name: str, option: str) -> ImageSet:
        image_set = ImageSet.objects.filter(name=name).first()
        if image_set is None:
            names = list(ImageSet.objects.order_by("name").values_list("name", flat=True)[:20])
            there = f"; sets: {', '.join(names)}" if names else "; there are no sets yet"
            raise CommandError(
                f"{option} {name!r}: no image set has that name{there} "
                "(import one with `python manage.py import_images PATH --set NAME`)"
            )
        return image_set

    def _wait(self, run: MetricRun, *, timeout: float | None, stream, progress: bool) -> MetricRun:
        start = time.monotonic()
        bar = tqdm(
            total=run.progress_total or None,
            desc=f"{run.metric} #{run.pk} {run.status}",
            unit="img",
            file=stream,
            disable=not progress,
            leave=False,
        )
        try:
            while True:
                run.refresh_from_db()
                if run.progress_total and bar.total != run.progress_total:
                    bar.total = run.progress_total
                bar.set_description(f"{run.metric} #{run.pk} {run.status}", refresh=False)
                bar.n = run.progress_done
                bar.refresh()  # once per poll: tqdm would skip updates closer than mininterval
                if not run.is_active:
                    return run
                if timeout is not None and time.monotonic() - start > timeout:
                    raise CommandError(
                        f"run {run.pk} is still {run.status} after {timeout:g} s "
                        f"({run.progress_done}/{run.progress_total}); it goes on in the "
                        f"background: {run.get_absolute_url()} (is a worker running? "
                        "`make worker`)"
                    )
                _sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            raise CommandError(
                f"stopped waiting; run {run.pk} goes on in the background: {run.get_absolute_url()}"
            ) from None
        finally:
            bar.close()

    def _print_started(self, run: MetricRun, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(_run_json(run), indent=2))
            return
        self.stdout.write(f"run {run.pk} queued: {run.get_absolute_url()}")

    def _print_ended(self, run: MetricRun, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(_run_json(run), indent=2))
        if run.status == MetricRun.Status.FAILED:
            raise CommandError(f"run {run.pk} failed: {run.error}")
        if run.status == MetricRun.Status.CANCELLED:
            raise CommandError(f"run {run.pk} was cancelled")
        if as_json:
            return
        label = RECIPES[run.metric].label
        n = run.result.get("n")
        lines = [f"{label} = {summary_text(run)}" + (f"  (n={json.dumps(n)})" if n else "")]
        for note in (run.result.get("extra") or {}).get("notes", []) or []:
            lines.append(f"note: {note}")
        per_item = run.items.count()
        if per_item:
            lines.append(f"{per_item} per-image values: /api/runs/{run.pk}/items/")
        if RECIPES[run.metric].extractor:
            cached = max(0, run.progress_total - run.features_computed)
            lines.append(f"features: {run.features_computed} computed, {cached} from the cache")
        lines.append(f"run {run.pk}: {run.get_absolute_url()}")
        self.stdout.write("\n".join(lines))


def _run_json(run: MetricRun) -> dict:
    from metrics.api_runs import MetricRunSerializer

    return MetricRunSerializer(run).data
