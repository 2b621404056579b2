"""``python -m metrics`` commands on CLIP (and other) embeddings: clip-score, clip-direction, cmmd,
vendi, prdc, novelty.

Prompt and caption files (``--prompts`` / ``--captions``) are CSV with a header row or
JSONL (one JSON object per line), chosen by extension (``.csv``; ``.jsonl``,
``.ndjson``) or, for other names, by whether the first character is ``{``:

- clip-score: columns ``file,prompt``: ``file`` is an image's file name in DIR;
- clip-direction: columns ``file,source_caption,caption`` (``caption`` describes the
  edited image ``file`` in EDITED_DIR, ``source_caption`` its source image), and an
  optional ``source`` column naming the source image in SOURCE_DIR (default: the
  same file name as the edited one).

Other columns are ignored, so an import manifest can be passed as it is. Only the
file name part of ``file`` counts (``images/a.png`` means ``a.png``). Every image of
DIR (EDITED_DIR) needs exactly one row, and every row must name an existing image.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metrics.engine.cli.common import (
    UsageError,
    format_result,
    list_images,
    pick_device,
    positive_int,
    progress_for,
)
from metrics.engine.images import ImageError
from metrics.engine.result import MetricResult

DEFAULT_BATCH = 32
_SHOW = 5


def _names(names: Sequence[str]) -> str:
    more = len(names) - _SHOW
    return ", ".join(names[:_SHOW]) + (f" and {more} more" if more > 0 else "")


# ----------------------------------------------------------------------------- prompt files


def read_rows(path: str | Path, required: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a CSV (with header) or JSONL file, each with the ``required`` keys as strings."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{p}: no such file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{p}: cannot be read as UTF-8 text ({exc})") from None
    suffix = p.suffix.lower()
    is_jsonl = suffix in (".jsonl", ".ndjson") or (
        suffix != ".csv" and text.lstrip().startswith("{")
    )
    rows: list[tuple[int, dict[str, Any]]] = []
    if is_jsonl:
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageError(f"{p}, line {lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise UsageError(f'{p}, line {lineno}: expected a JSON object like {{"file": ...}}')
            rows.append((lineno, obj))
    else:
        reader = csv.DictReader(text.splitlines())
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise UsageError(
                f"{p}: the CSV header {','.join(header) or '(empty)'} lacks column(s) "
                f"{', '.join(missing)}; the first line must name the columns, e.g. {','.join(required)}"
            )
        rows = [(i, row) for i, row in enumerate(reader, start=2)]
    if not rows:
        raise UsageError(f"{p}: no rows (expected columns {', '.join(required)})")
    out = []
    for lineno, row in rows:
        clean: dict[str, str] = {}
        for key, value in row.items():
            if key is not None and value is not None:
                clean[str(key)] = str(value)
        for col in required:
            if not clean.get(col, "").strip():
                raise UsageError(f"{p}, line {lineno}: missing or empty {col!r}")
        clean["_line"] = str(lineno)
        out.append(clean)
    return out


def _index_rows(rows: list[dict[str, str]], source: Path) -> dict[str, dict[str, str]]:
    by_name: dict[str, dict[str, str]] = {}
    for row in rows:
        name = Path(row["file"].strip()).name
        if name in by_name:
            raise UsageError(
                f"{source}, lines {by_name[name]['_line']} and {row['_line']}: {name} is listed twice; "
                "give one row per image"
            )
        by_name[name] = row
    return by_name


def _match_rows(
    images: list[Path], rows: list[dict[str, str]], source: Path, what: str, directory: Path
) -> list[dict[str, str]]:
    """The row of each image, in image order; errors for images without rows and rows without images."""
    by_name = _index_rows(rows, source)
    names = {p.name for p in images}
    no_row = [p.name for p in images if p.name not in by_name]
    no_image = sorted(n for n in by_name if n not in names)
    problems = []
    if no_row:
        problems.append(
            f"{len(no_row)} image(s) in {directory} have no {what} in {source}: {_names(no_row)}"
        )
    if no_image:
        problems.append(
            f"{len(no_image)} row(s) of {source} name images not in {directory}: {_names(no_image)}"
        )
    if problems:
        raise UsageError("; ".join(problems) + f"; give exactly one {what} per image")
    return [by_name[p.name] for p in images]


def read_prompts(path: str | Path, images: list[Path], directory: Path) -> list[str]:
    """The prompt of each image (same order), from a ``file,prompt`` CSV or JSONL file."""
    rows = read_rows(path, ("file", "prompt"))
    return [row["prompt"] for row in _match_rows(images, rows, Path(path), "prompt", directory)]


@dataclass(frozen=True)
class EditPair:
    """One edit: its source and edited image files and captions."""

    source: Path
    edited: Path
    source_caption: str
    caption: str


def read_edit_pairs(path: str | Path, source_dir: Path, edited_dir: Path) -> list[EditPair]:
    """The edit pairs described by a ``file,source_caption,caption[,source]`` file."""
    edited = list_images(edited_dir)
    sources = {p.name: p for p in list_images(source_dir)}
    rows = _match_rows(
        edited,
        read_rows(path, ("file", "source_caption", "caption")),
        Path(path),
        "caption row",
        edited_dir,
    )
    pairs, missing = [], []
    for img, row in zip(edited, rows, strict=True):
        src_name = Path(row.get("source", "").strip() or img.name).name
        if src_name not in sources:
            missing.append(f"{src_name} (for {img.name})")
            continue
        pairs.append(EditPair(sources[src_name], img, row["source_caption"], row["caption"]))
    if missing:
        raise UsageError(
            f"{len(missing)} source image(s) not found in {source_dir}: {_names(missing)}; a source "
            "image has the edited image's file name unless a 'source' column names it"
        )
    return pairs


# ----------------------------------------------------------------------------- embeddings


def _batch(args: argparse.Namespace) -> int:
    return args.batch_size or DEFAULT_BATCH


def _workers(args: argparse.Namespace) -> int:
    if args.workers is not None:
        return args.workers
    return min(4, os.cpu_count() or 1)


def _seed(args: argparse.Namespace) -> int:
    return 0 if args.seed is None else args.seed


def _clip_bundle(args: argparse.Namespace):
    from metrics.engine.clip import load_clip

    return load_clip(args.clip_model, device=pick_device(args.device))


def _clip_embeddings(args: argparse.Namespace, paths: list[Path], desc: str) -> np.ndarray:
    from metrics.engine.clip import clip_image_embeddings

    bundle = _clip_bundle(args)
    with progress_for(args, len(paths), desc) as bar:
        return clip_image_embeddings(
            bundle, paths, batch_size=_batch(args), workers=_workers(args), progress=bar
        )


def _embedding_provenance(args: argparse.Namespace, embedding: str) -> dict[str, Any]:
    from metrics.engine.provenance import versions

    if embedding == "clip":
        return _clip_bundle(args).provenance()
    return {**_inception_extractor(args).provenance(), "versions": versions()}


def _inception_extractor(args: argparse.Namespace):
    cached = getattr(args, "_inception_extractor", None)
    if cached is not None:
        return cached
    from metrics.engine.extractors import InceptionExtractor

    extractor = InceptionExtractor(
        args.inception_weights, resize=args.resize, device=pick_device(args.device)
    )
    args._inception_extractor = extractor
    return extractor


def _embeddings(
    args: argparse.Namespace, paths: list[Path], embedding: str, desc: str
) -> np.ndarray:
    if embedding == "clip":
        return _clip_embeddings(args, paths, desc)
    extractor = _inception_extractor(args)
    with progress_for(args, len(paths), desc) as bar:
        out = extractor.extract_paths(
            paths, batch_size=_batch(args), workers=_workers(args), progress=bar
        )
    return out["pool3"]


def _user_errors(fn):
    """Turn the maths' ValueErrors (too few images for k, ...) into UsageErrors for the CLI."""

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        try:
            return fn(*a, **kw)
        except ValueError as exc:
            if isinstance(exc, ImageError):
                raise
            raise UsageError(str(exc)) from None

    return wrapper


# ----------------------------------------------------------------------------- commands


@_user_errors
def cmd_clip_score(args: argparse.Namespace) -> MetricResult:
    from metrics.engine.clip_score import clip_score_paths

    directory = Path(args.dir)
    images = list_images(directory)
    prompts = read_prompts(args.prompts, images, directory)
    bundle = _clip_bundle(args)
    with progress_for(args, len(images), "clip-score") as bar:
        return clip_score_paths(
            images,
            prompts,
            bundle=bundle,
            batch_size=_batch(args),
            workers=_workers(args),
            resamples=args.resamples,
            seed=_seed(args),
            progress=bar,
        )


@_user_errors
def cmd_clip_direction(args: argparse.Namespace) -> MetricResult:
    from metrics.engine.clip_score import directional_similarity_paths

    pairs = read_edit_pairs(args.captions, Path(args.source_dir), Path(args.edited_dir))
    bundle = _clip_bundle(args)
    with progress_for(args, 2 * len(pairs), "clip-direction") as bar:
        return directional_similarity_paths(
            [p.source for p in pairs],
            [p.edited for p in pairs],
            [p.source_caption for p in pairs],
            [p.caption for p in pairs],
            bundle=bundle,
            batch_size=_batch(args),
            workers=_workers(args),
            resamples=args.resamples,
            seed=_seed(args),
            progress=bar,
        )


@_user_errors
def cmd_cmmd(args: argparse.Namespace) -> MetricResult:
    from metrics.engine.cmmd import cmmd_from_embeddings

    a, b = list_images(args.dir_a), list_images(args.dir_b)
    emb_a = _clip_embeddings(args, a, "cmmd A")
    emb_b = _clip_embeddings(args, b, "cmmd B")
    return cmmd_from_embeddings(
        emb_a, emb_b, unbiased=args.unbiased, provenance=_embedding_provenance(args, "clip")
    )


@_user_errors
def cmd_vendi(args: argparse.Namespace) -> MetricResult:
    from metrics.engine.vendi import vendi_from_embeddings

    paths = list_images(args.dir)
    emb = _embeddings(args, paths, args.embedding, "vendi")
    return vendi_from_embeddings(
        emb, embedding=args.embedding, provenance=_embedding_provenance(args, args.embedding)
    )


@_user_errors
def cmd_prdc(args: argparse.Namespace) -> int:
    from metrics.engine.prdc import prdc_from_features

    gen, ref = list_images(args.dir_gen), list_images(args.dir_ref)
    for side, paths in (("DIR_GEN", gen), ("DIR_REF", ref)):
        if len(paths) <= args.k:
            raise UsageError(
                f"{side} has {len(paths)} images; precision/recall with k = {args.k} needs more "
                f"than {args.k} (use a smaller --k or more images)"
            )
    emb_gen = _embeddings(args, gen, args.embedding, "prdc generated")
    emb_ref = _embeddings(args, ref, args.embedding, "prdc reference")
    results = prdc_from_features(
        emb_gen,
        emb_ref,
        k=args.k,
        embedding=args.embedding,
        provenance=_embedding_provenance(args, args.embedding),
    )
    if args.json:
        obj = {
            "metric": "prdc",
            "k": args.k,
            "results": {k: r.to_dict() for k, r in results.items()},
        }
        sys.stdout.write(json.dumps(obj) + "\n")
    else:
        for r in results.values():
            sys.stdout.write(format_result(r) + "\n")
    return 0


@_user_errors
def cmd_novelty(args: argparse.Namespace) -> MetricResult:
    from metrics.engine.novelty import novelty_from_embeddings

    gen, ref = list_images(args.dir_gen), list_images(args.dir_ref)
    emb_gen = _embeddings(args, gen, args.embedding, "novelty generated")
    emb_ref = _embeddings(args, ref, args.embedding, "novelty reference")
    result = novelty_from_embeddings(
        emb_gen,
        emb_ref,
        threshold=args.threshold,
        generated_names=[p.name for p in gen],
        reference_names=[p.name for p in ref],
        embedding=args.embedding,
        resamples=args.resamples,
        seed=_seed(args),
        provenance=_embedding_provenance(args, args.embedding),
    )
    frac = result.extra["memorised_fraction"]
    result.extra.setdefault("notes", []).append(
        f"{frac:.1%} of generated images have a reference image with cosine similarity >= "
        f"{args.threshold} (possible memorisation)"
    )
    return result


def _unit_interval(text: str) -> float:
    value = float(text)
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a cosine similarity in [-1, 1], got {value}")
    return value


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the CLIP and set-level commands to ``python -m metrics``."""

    def add(name: str, help_: str, func, description: str) -> argparse.ArgumentParser:
        p = subparsers.add_parser(name, parents=[common], help=help_, description=description)
        p.set_defaults(func=func)
        return p

    def resamples(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--resamples",
            type=positive_int,
            default=1000,
            metavar="N",
            help="bootstrap resamples for the 95%% interval (default 1000; seeded by --seed)",
        )

    def embedding(p: argparse.ArgumentParser, default: str) -> None:
        p.add_argument(
            "--embedding",
            choices=("clip", "inception"),
            default=default,
            help=f"feature space: CLIP image embeddings or FID Inception pool3 (default {default})",
        )

    p = add(
        "clip-score",
        "CLIP score of images against their prompts",
        cmd_clip_score,
        "100 x max(cos(image, prompt), 0) per image, averaged (torchmetrics' CLIPScore per image).",
    )
    p.add_argument("dir", metavar="DIR", help="folder of images")
    p.add_argument(
        "--prompts",
        required=True,
        metavar="FILE",
        help='CSV with header file,prompt (or JSONL {"file": ..., "prompt": ...}); one row per image',
    )
    resamples(p)

    p = add(
        "clip-direction",
        "CLIP directional similarity of image edits",
        cmd_clip_direction,
        "cos(E(edited) - E(source), E(caption) - E(source_caption)) per pair, averaged.",
    )
    p.add_argument("source_dir", metavar="SOURCE_DIR", help="folder of source images")
    p.add_argument("edited_dir", metavar="EDITED_DIR", help="folder of edited images")
    p.add_argument(
        "--captions",
        required=True,
        metavar="FILE",
        help="CSV/JSONL with columns file,source_caption,caption[,source]; one row per edited image",
    )
    resamples(p)

    p = add(
        "cmmd",
        "CMMD between two folders (CLIP MMD, x1000)",
        cmd_cmmd,
        "Jayasumana et al. 2024: MMD^2 with a Gaussian RBF kernel (sigma 10) on CLIP embeddings, x1000.",
    )
    p.add_argument("dir_a", metavar="DIR_A")
    p.add_argument("dir_b", metavar="DIR_B")
    p.add_argument(
        "--unbiased",
        action="store_true",
        help="unbiased MMD^2 estimator (default: the biased one, as the paper's code)",
    )

    p = add(
        "vendi",
        "Vendi score (diversity) of a folder",
        cmd_vendi,
        "Friedman & Dieng 2023: exp(entropy of the eigenvalues of K/n), cosine kernel.",
    )
    p.add_argument("dir", metavar="DIR")
    embedding(p, "clip")

    p = add(
        "prdc",
        "precision, recall, density and coverage",
        cmd_prdc,
        "k-NN manifolds in feature space (Kynkaanniemi et al. 2019; Naeem et al. 2020).",
    )
    p.add_argument("dir_gen", metavar="DIR_GEN", help="generated images")
    p.add_argument("dir_ref", metavar="DIR_REF", help="reference (real) images")
    p.add_argument(
        "--k",
        type=positive_int,
        default=5,
        help="nearest neighbours (default 5; papers use 3 or 5)",
    )
    embedding(p, "clip")

    p = add(
        "novelty",
        "nearest-neighbour similarity to a reference/training set",
        cmd_novelty,
        "For each generated image, the cosine similarity of its nearest reference image; the "
        "fraction at or above --threshold flags possible memorisation.",
    )
    p.add_argument("dir_gen", metavar="DIR_GEN", help="generated images")
    p.add_argument("dir_ref", metavar="DIR_REF", help="reference / training images")
    p.add_argument(
        "--threshold",
        type=_unit_interval,
        default=0.9,
        help="cosine similarity counted as memorised (default 0.9 = MIFID's distance 0.1)",
    )
    embedding(p, "clip")
    resamples(p)
