"""python manage.py import_images PATH --set NAME [--kind ...] [--model NAME] [--manifest FILE]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from metrics.models import ImageSet
from metrics.services.imports import ImportFailed, image_set_import


class Command(BaseCommand):
    help = (
        "Import a folder or zip of images into an image set, all or nothing. "
        "Importing the same files again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="a folder or a .zip of images")
        parser.add_argument("--set", dest="set_name", required=True, help="image set name")
        parser.add_argument(
            "--kind",
            choices=ImageSet.Kind.values,
            help="generated (default with --model), reference or source",
        )
        parser.add_argument("--model", help="model under test that generated the images")
        parser.add_argument("--model-version", default="", help="version of --model")
        parser.add_argument(
            "--manifest",
            type=Path,
            help="CSV or JSONL (file, prompt, source, caption, ...); "
            "default: manifest.csv or manifest.jsonl inside PATH if present",
        )
        parser.add_argument("--source-set", help="set holding the images named in 'source'")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(
        self,
        *args,
        path: Path,
        set_name: str,
        kind,
        model,
        model_version,
        manifest,
        source_set,
        no_progress,
        **options,
    ):
        source = None
        if source_set:
            source = ImageSet.objects.filter(name=source_set).first()
            if source is None:
                raise CommandError(f"source set {source_set!r} does not exist; import it first")
        bars: dict[str, tqdm] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if no_progress:
                return
            bar = bars.get(stage)
            if bar is None:
                label = {"check": "checking", "store": "storing", "rows": "saving rows"}.get(
                    stage, stage
                )
                bar = bars[stage] = tqdm(total=total, desc=label, unit="img", leave=False)
            bar.update(done - bar.n)

        try:
            result = image_set_import(
                path=path,
                set_name=set_name,
                kind=kind,
                model_name=model,
                model_version=model_version,
                manifest=manifest,
                source_set=source,
                progress=progress,
            )
        except ImportFailed as exc:
            raise CommandError(str(exc)) from None
        finally:
            for bar in bars.values():
                bar.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.image_set.name}: {result.created} imported, "
                f"{result.unchanged} already there ({result.image_set.images.count()} in the set)"
            )
        )
