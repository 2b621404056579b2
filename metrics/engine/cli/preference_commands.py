"""``python -m metrics`` human-preference scorers: ``aesthetic``, ``pickscore``, ``hpsv2``,
``imagereward``.

Each prints the mean score with a bootstrap interval; ``--json`` adds the per-image
scores and the provenance (weights sha256, preprocessing). Prompt files are those of
``clip-score`` (``prompt_files.py``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from metrics.engine.cli.clip_commands import _user_errors
from metrics.engine.cli.common import (
    list_images,
    pick_device,
    positive_int,
    progress_for,
    seed_of,
    workers_of,
)
from metrics.engine.cli.prompt_files import read_prompts
from metrics.engine.result import MetricResult

DEFAULT_BATCH = 16  # CLIP-H at 224 px: 16 images keep a CPU's memory low, a GPU busy enough


def _common(args: argparse.Namespace) -> dict:
    return {
        "batch_size": args.batch_size or DEFAULT_BATCH,
        "workers": workers_of(args),
        "resamples": args.resamples,
        "seed": seed_of(args),
    }


def _images_and_prompts(args: argparse.Namespace) -> tuple[list[Path], list[str]]:
    directory = Path(args.dir)
    images = list_images(directory)
    return images, read_prompts(args.prompts, images, directory)


@_user_errors
def cmd_aesthetic(args: argparse.Namespace) -> MetricResult:
    from metrics.engine.aesthetic import aesthetic_paths, load_aesthetic_head
    from metrics.engine.clip import load_clip

    images = list_images(args.dir)
    head = load_aesthetic_head(args.aesthetic_weights)
    bundle = load_clip(args.clip_model, device=pick_device(args.device))
    with progress_for(args, len(images), "aesthetic") as bar:
        return aesthetic_paths(images, bundle=bundle, head=head, progress=bar, **_common(args))


@_user_errors
def cmd_pickscore(args: argparse.Namespace) -> MetricResult:
    from metrics.engine.pickscore import load_pickscore, pickscore_paths

    images, prompts = _images_and_prompts(args)
    bundle = load_pickscore(
        args.pickscore_model, args.pickscore_processor, device=pick_device(args.device)
    )
    with progress_for(args, len(images), "pickscore") as bar:
        return pickscore_paths(
            images,
            prompts,
            bundle=bundle,
            processor=args.pickscore_processor,
            progress=bar,
            **_common(args),
        )


@_user_errors
def cmd_hpsv2(args: argparse.Namespace) -> MetricResult:
    from metrics.engine.hpsv2 import hpsv2_paths, load_hpsv2

    images, prompts = _images_and_prompts(args)
    bundle = load_hpsv2(
        args.hps_weights, tokenizer=args.hps_tokenizer, device=pick_device(args.device)
    )
    with progress_for(args, len(images), "hpsv2") as bar:
        return hpsv2_paths(images, prompts, bundle=bundle, progress=bar, **_common(args))


@_user_errors
def cmd_imagereward(args: argparse.Namespace) -> MetricResult:
    from metrics.engine.imagereward import imagereward_paths, load_imagereward

    images, prompts = _images_and_prompts(args)
    scorer = load_imagereward(
        args.imagereward_weights,
        tokenizer=args.imagereward_tokenizer,
        device=pick_device(args.device),
    )
    with progress_for(args, len(images), "imagereward") as bar:
        return imagereward_paths(images, prompts, scorer=scorer, progress=bar, **_common(args))


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the preference scorers to ``python -m metrics``."""
    from metrics.engine import imagereward
    from metrics.engine.hpsv2 import TOKENIZER
    from metrics.engine.pickscore import PICKSCORE_MODEL, PICKSCORE_PROCESSOR

    def add(name: str, help_: str, func, description: str) -> argparse.ArgumentParser:
        p = subparsers.add_parser(name, parents=[common], help=help_, description=description)
        p.set_defaults(func=func)
        p.add_argument("dir", metavar="DIR", help="folder of images")
        p.add_argument(
            "--resamples",
            type=positive_int,
            default=1000,
            metavar="N",
            help="bootstrap resamples for the 95%% interval (default 1000; seeded by --seed)",
        )
        return p

    def prompts(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--prompts",
            required=True,
            metavar="FILE",
            help='CSV with header file,prompt (or JSONL {"file": ..., "prompt": ...}); one row per image',
        )

    p = add(
        "aesthetic",
        "LAION aesthetic score (improved aesthetic predictor) of a folder",
        cmd_aesthetic,
        "The sac+logos+ava1-l14-linearMSE head on L2-normalised CLIP ViT-L/14 image embeddings.",
    )
    p.add_argument(
        "--aesthetic-weights",
        default=None,
        metavar="FILE",
        help="the head's .pth file (default: found or fetched, see fetch-weights)",
    )

    p = add(
        "pickscore",
        "PickScore of images against their prompts",
        cmd_pickscore,
        "logit_scale.exp() x cos(image, prompt) of yuvalkirstain/PickScore_v1 (Kirstain et al. 2023).",
    )
    prompts(p)
    p.add_argument("--pickscore-model", default=PICKSCORE_MODEL, metavar="NAME_OR_DIR")
    p.add_argument(
        "--pickscore-processor",
        default=PICKSCORE_PROCESSOR,
        metavar="NAME_OR_DIR",
        help=f"preprocessing and tokenizer files (default {PICKSCORE_PROCESSOR}, as the authors)",
    )

    p = add(
        "hpsv2",
        "HPS v2.1 of images against their prompts",
        cmd_hpsv2,
        "cos(image, prompt) of HPS_v2.1_compressed.pt (OpenCLIP ViT-H-14; Wu et al. 2023).",
    )
    prompts(p)
    p.add_argument(
        "--hps-weights",
        default=None,
        metavar="FILE",
        help="HPS_v2.1_compressed.pt (default: found or fetched, see fetch-weights)",
    )
    p.add_argument(
        "--hps-tokenizer",
        default=TOKENIZER,
        metavar="NAME_OR_DIR",
        help=f"CLIP BPE tokenizer files (default {TOKENIZER})",
    )

    p = add(
        "imagereward",
        "ImageReward v1.0 of images against their prompts",
        cmd_imagereward,
        "The normalised reward of THUDM/ImageReward (Xu et al. 2023), rebuilt from transformers' "
        "BLIP classes.",
    )
    prompts(p)
    p.add_argument(
        "--imagereward-weights",
        default=None,
        metavar="FILE",
        help="ImageReward.pt (default: found or fetched, see fetch-weights)",
    )
    p.add_argument(
        "--imagereward-tokenizer",
        default=imagereward.TOKENIZER,
        metavar="NAME_OR_DIR",
        help=f"BERT vocabulary (default {imagereward.TOKENIZER})",
    )
