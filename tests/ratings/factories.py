"""Small builders for ratings tests: a catalog with metadata-laden images, campaigns, judges."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
from django.contrib.auth import get_user_model
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from metrics.models import ImageSet
from metrics.services.imports import image_set_import
from ratings.models import Judge
from ratings.presets import criterion_preset
from ratings.services.campaigns import campaign_create, campaign_invite, campaign_set_status

MODEL_NAMES = ("zebragen-secret", "quokkadiff-secret", "lynxflow-secret", "otterdream-secret")
PROMPTS = (
    "a red circle on a blue background",
    "a green square on a white background",
    "a yellow triangle on a black background",
    "an orange star on a purple background",
    "a pink heart on a grey background",
)


def tagged_png(seed: int, *, model: str, set_name: str, size=(40, 30)) -> bytes:
    """A PNG whose text chunks and EXIF name its model and set, as generators write them."""
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    info = PngInfo()
    info.add_text("parameters", f"Model: {model}, set: {set_name}, seed {seed}")
    info.add_text("Software", model)
    exif = Image.Exif()
    exif[0x0131] = model  # Software
    exif[0x010E] = f"made by {model} for {set_name}"  # ImageDescription
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info, exif=exif)
    return buf.getvalue()


def import_set(
    root: Path, name: str, *, model: str | None, prompts, per_prompt: int, seed: int
) -> ImageSet:
    folder = root / name
    folder.mkdir(parents=True)
    rows = []
    for p, prompt in enumerate(prompts):
        for k in range(per_prompt):
            fname = f"{name}_p{p}_{k}.png"
            (folder / fname).write_bytes(
                tagged_png(seed * 10_000 + p * 100 + k, model=model or "real", set_name=name)
            )
            rows.append({"file": fname, "prompt": prompt})
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file", "prompt"])
        writer.writeheader()
        writer.writerows(rows)
    kind = ImageSet.Kind.GENERATED if model else ImageSet.Kind.REFERENCE
    return image_set_import(
        path=folder,
        set_name=name,
        kind=kind,
        model_name=model,
        model_version="1.0" if model else "",
    ).image_set


def make_catalog(
    root: Path, *, models: int = 3, prompts: int = 3, per_prompt: int = 4, references: int = 6
) -> tuple[list[ImageSet], ImageSet | None]:
    """Generated sets of ``models`` models and a reference set, all with prompts."""
    sets = [
        import_set(
            root,
            f"set-{MODEL_NAMES[m]}",
            model=MODEL_NAMES[m],
            prompts=PROMPTS[:prompts],
            per_prompt=per_prompt,
            seed=m + 1,
        )
        for m in range(models)
    ]
    reference = None
    if references:
        reference = import_set(
            root, "set-realphotos-secret", model=None, prompts=PROMPTS[:1],
            per_prompt=references, seed=99,
        )  # fmt: skip
    return sets, reference


def make_campaign(
    sets,
    reference=None,
    *,
    criteria=(("realism", "rate"),),
    name="test campaign",
    open_=True,
    **options,
):
    options.setdefault("gold_rate", 0.0)
    campaign = campaign_create(
        name=name,
        image_sets=sets,
        reference_set=reference,
        criteria=[criterion_preset(key, protocol) for key, protocol in criteria],
        **options,
    )
    if open_:
        campaign_set_status(campaign=campaign, status="open")
    return campaign


def make_link_judge(campaign, external_id: str) -> Judge:
    return Judge.objects.create(
        campaign=campaign, source=Judge.Source.PROLIFIC, external_id=external_id
    )


def make_judge_user(username: str, campaign=None, password: str = "pw-judge-123"):
    user = get_user_model().objects.create_user(username, password=password)
    if campaign is not None:
        campaign_invite(campaign=campaign, users=[user])
    return user


def answers_for(view_or_criteria, value: str = "4", choice: str = "a") -> dict[str, str]:
    """An answer for every criterion of a task: ``value`` on scales, ``choice`` on pairs."""
    criteria = getattr(view_or_criteria, "criteria", view_or_criteria)
    return {str(c.pk): choice if c.protocol == "compare" else value for c in criteria}
