"""A small demo study made procedurally: three fake models, a reference set, prompts.

Each prompt asks for a coloured shape on a coloured background. The reference set
draws it cleanly; the fake models draw it with their own flaws, so that metrics and
people have something to disagree about:

- ``crisp-gen``: close to the reference (slight jitter);
- ``noisy-gen``: right content, grainy, colours drift;
- ``vague-gen``: blurry, and one time in three draws the wrong shape.

Beside them, an image-to-image pair of sets: ``sources-demo`` (inputs) and
``edits-demo`` (the ``recolor-edit`` model recolours each shape, with captions),
so that SSIM, PSNR and directional similarity have something to compare.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from metrics.models import ImageSet
from metrics.services.imports import ImportResult, image_set_import

COLOURS = {
    "red": (220, 50, 47),
    "blue": (38, 139, 210),
    "green": (133, 153, 0),
    "yellow": (241, 196, 15),
    "purple": (108, 113, 196),
    "white": (245, 245, 240),
    "black": (20, 24, 28),
    "orange": (230, 126, 34),
}
SHAPES = ("circle", "square", "triangle")
DEMO_MODELS = ("crisp-gen", "noisy-gen", "vague-gen")
SIZE = 128


def demo_prompts(count: int = 8) -> list[tuple[str, str, str]]:
    """(shape, colour, background) triples, the same every time."""
    rng = np.random.default_rng(2024)
    names = list(COLOURS)
    triples = []
    while len(triples) < count:
        shape = SHAPES[rng.integers(len(SHAPES))]
        fg, bg = rng.choice(names, size=2, replace=False)
        if (shape, fg, bg) not in triples:
            triples.append((shape, str(fg), str(bg)))
    return triples


def prompt_text(shape: str, fg: str, bg: str) -> str:
    return f"a {fg} {shape} on a {bg} background"


def draw(shape: str, fg: str, bg: str, rng: np.random.Generator, *, style: str) -> Image.Image:
    """Draw one image in a model's ``style`` (reference, crisp, noisy, vague)."""
    if style == "vague" and rng.random() < 1 / 3:
        shape = SHAPES[(SHAPES.index(shape) + 1) % len(SHAPES)]
    fg_rgb = np.array(COLOURS[fg], dtype=float)
    bg_rgb = np.array(COLOURS[bg], dtype=float)
    if style == "noisy":
        fg_rgb = fg_rgb + rng.normal(0, 25, 3)
    img = Image.new("RGB", (SIZE, SIZE), tuple(int(c) for c in np.clip(bg_rgb, 0, 255)))
    d = ImageDraw.Draw(img)
    r = SIZE * rng.uniform(0.22, 0.34)
    cx, cy = SIZE / 2 + rng.uniform(-18, 18), SIZE / 2 + rng.uniform(-18, 18)
    colour = tuple(int(c) for c in np.clip(fg_rgb, 0, 255))
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif shape == "square":
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        d.polygon([(cx, cy - r), (cx - r, cy + r * 0.8), (cx + r, cy + r * 0.8)], fill=colour)
    arr = np.asarray(img, dtype=float)
    # Texture so that no two images are identical (and real photos are never flat).
    arr += rng.normal(0, {"reference": 4, "crisp": 6, "noisy": 22, "vague": 5}[style], arr.shape)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if style == "vague":
        img = img.filter(ImageFilter.GaussianBlur(radius=3))
    return img


def _write_set(folder: Path, style: str, per_prompt: int, seed: int) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "prompt", "seed"])
        for p, (shape, fg, bg) in enumerate(demo_prompts()):
            for k in range(per_prompt):
                name = f"p{p:02d}_{k:02d}.png"
                draw(shape, fg, bg, rng, style=style).save(folder / name)
                writer.writerow([name, prompt_text(shape, fg, bg), seed * 1000 + p * 100 + k])


EDIT_MODEL = "recolor-edit"


def _write_edit_sets(root: Path, count: int = 8) -> tuple[Path, Path]:
    """Source images and their recoloured edits (an image-to-image model), with captions."""
    sources, edits = root / "sources", root / "edits"
    sources.mkdir()
    edits.mkdir()
    rng = np.random.default_rng(7)
    names = list(COLOURS)
    rows = []
    for i, (shape, fg, bg) in enumerate(demo_prompts(count)):
        name = f"s{i:02d}.png"
        state = rng.bit_generator.state
        draw(shape, fg, bg, rng, style="reference").save(sources / name)
        new_fg = next(c for c in names[i % len(names) :] + names if c not in (fg, bg))
        rng.bit_generator.state = state  # same geometry and texture, new colour
        edited = np.asarray(draw(shape, new_fg, bg, rng, style="reference"), dtype=float)
        edited += rng.normal(0, 3 + i, edited.shape)  # later edits are sloppier
        Image.fromarray(np.clip(edited, 0, 255).astype(np.uint8)).save(edits / f"e{i:02d}.png")
        rows.append(
            [f"e{i:02d}.png", name, prompt_text(shape, fg, bg), prompt_text(shape, new_fg, bg),
             f"make the {shape} {new_fg}"]
        )  # fmt: skip
    with open(edits / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "source", "source_caption", "caption", "prompt"])
        writer.writerows(rows)
    return sources, edits


def demo_load(*, per_prompt: int = 6) -> list[ImportResult]:
    """Import the demo sets (idempotent: a second call changes nothing)."""
    results = []
    with tempfile.TemporaryDirectory(prefix="evalsite-demo-") as tmp:
        root = Path(tmp)
        _write_set(root / "reference", "reference", per_prompt, seed=1)
        results.append(
            image_set_import(
                path=root / "reference",
                set_name="demo-reference",
                kind=ImageSet.Kind.REFERENCE,
            )
        )
        for i, (model, style) in enumerate(
            zip(DEMO_MODELS, ("crisp", "noisy", "vague"), strict=True)
        ):
            _write_set(root / model, style, per_prompt, seed=10 + i)
            results.append(
                image_set_import(
                    path=root / model,
                    set_name=f"demo-{model}",
                    kind=ImageSet.Kind.GENERATED,
                    model_name=model,
                    model_version="1.0",
                )
            )
        sources, edits = _write_edit_sets(root)
        results.append(image_set_import(path=sources, set_name="sources-demo", kind="source"))
        results.append(
            image_set_import(
                path=edits,
                set_name="edits-demo",
                model_name=EDIT_MODEL,
                model_version="1.0",
                source_set=ImageSet.objects.get(name="sources-demo"),
            )
        )
    return results
