"""``python -m metrics`` commands on CLIP (and other) embeddings: clip-score, clip-direction, cmmd,
vendi, prdc, novelty.

The prompt and caption file formats are described in ``prompt_files.py``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
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
    seed_of,
    workers_of,
)
from metrics.engine.cli.prompt_files import read_edit_pairs, read_prompts
from metrics.engine.images import ImageError
from metrics.engine.result import MetricResult

DEFAULT_BATCH = 32
_SHOW = 5


# ----------------------------------------------------------------------------- embeddings


def _batch(args: argparse.Namespace) -> int:
    return args.batch_size or DEFAULT_BATCH


def _clip_bundle(args: argparse.Namespace):
    from metrics.engine.clip import load_clip

    return load_clip(args.clip_model, device=pick_device(args.device))


def _clip_embeddings(args: argparse.Namespace, paths: list[Path], desc: str) -> np.ndarray:
    from metrics.engine.clip import clip_image_embeddings

    bundle = _clip_bundle(args)
    with progress_for(args, len(paths), desc) as bar:
        return clip_image_embeddings(
            bundle, paths, batch_size=_batch(args), workers=workers_of(args), progress=bar
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
            paths, batch_size=_batch(args), workers=workers_of(args), progress=bar
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
            workers=workers_of(args),
            resamples=args.resamples,
            seed=seed_of(args),
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
            workers=workers_of(args),
            resamples=args.resamples,
            seed=seed_of(args),
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
        seed=seed_of(args),
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
