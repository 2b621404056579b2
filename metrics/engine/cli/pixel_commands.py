"""Pixel and perceptual commands: ``ssim``, ``ms-ssim``, ``psnr``, ``lpips`` (pairs of folders) and
``lpips-diversity`` (one folder).

Pairs are matched by file name (see :mod:`metrics.engine.pairs`); every result
carries per-pair values, the mean and a seeded bootstrap 95% interval.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable

from metrics.engine.cli.common import (
    UsageError,
    emit,
    list_images,
    pick_device,
    positive_int,
    progress_for,
    seed_of,
    workers_of,
)
from metrics.engine.pairs import Pairing, PixelInputError, match_pairs
from metrics.engine.result import MetricResult


def _user_errors(func: Callable[[argparse.Namespace], MetricResult | int]):
    """Turn the engine's input errors (pairing, sizes, weights format) into UsageError (exit 2)."""

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> MetricResult | int:
        from metrics.engine.lpips import LPIPSWeightsError

        try:
            return func(args)
        except (PixelInputError, LPIPSWeightsError) as exc:
            raise UsageError(str(exc)) from None

    return wrapper


def _pairing(args: argparse.Namespace) -> Pairing:
    return match_pairs(args.dir_a, args.dir_b, by=args.match, allow_unmatched=args.allow_unmatched)


def _pair_parser(sub, common: argparse.ArgumentParser, name: str, help_text: str):
    p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
    p.add_argument("dir_a", metavar="DIR_A", help="folder of reference (or source) images")
    p.add_argument("dir_b", metavar="DIR_B", help="folder of images to compare, same file names")
    p.add_argument(
        "--match",
        choices=("name", "stem"),
        default="name",
        help="pair images by exact file name (default) or by name without extension",
    )
    p.add_argument(
        "--allow-unmatched",
        action="store_true",
        help="use only the matched pairs instead of refusing images without a partner",
    )
    p.add_argument(
        "--resize-to-match",
        action="store_true",
        help="resize each B image to its A partner's size (PIL bicubic) instead of refusing",
    )
    return p


def _lpips_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--net", choices=("alex", "vgg"), default="alex", help="LPIPS backbone")
    p.add_argument(
        "--lpips-weights",
        metavar="FILE",
        default=None,
        help="LPIPS v0.1 linear layers (the lpips project's weights/v0.1/alex.pth or vgg.pth)",
    )
    p.add_argument(
        "--backbone-weights",
        metavar="FILE",
        default=None,
        help="torchvision backbone (alexnet-owt-7be5be79.pth or vgg16-397923af.pth)",
    )


@_user_errors
def _ssim_command(args: argparse.Namespace) -> MetricResult:
    from metrics.engine.ssim import ms_ssim_pairs, ssim_pairs

    pairing = _pairing(args)
    fn = ms_ssim_pairs if args.command == "ms-ssim" else ssim_pairs
    with progress_for(args, len(pairing.pairs), args.command) as bar:
        return fn(
            pairing,
            resize_to_match=args.resize_to_match,
            workers=workers_of(args),
            progress=bar,
            seed=seed_of(args),
        )


@_user_errors
def _psnr_command(args: argparse.Namespace) -> int:
    from metrics.engine.psnr import psnr_mse_pairs

    pairing = _pairing(args)
    with progress_for(args, len(pairing.pairs), "psnr") as bar:
        psnr_result, mse_result = psnr_mse_pairs(
            pairing,
            resize_to_match=args.resize_to_match,
            workers=workers_of(args),
            progress=bar,
            seed=seed_of(args),
        )
    emit(psnr_result, args)  # with --json, one object; the MSE is in its extra["mse"]
    if not args.json:
        emit(mse_result, args)
    return 0


def _model(args: argparse.Namespace):
    from metrics.engine.lpips import load_lpips

    return load_lpips(
        args.net,
        lpips_weights=args.lpips_weights,
        backbone_weights=args.backbone_weights,
        device=pick_device(args.device),
    )


@_user_errors
def _lpips_command(args: argparse.Namespace) -> MetricResult:
    from metrics.engine.lpips import lpips_pairs

    pairing = _pairing(args)
    model = _model(args)
    with progress_for(args, len(pairing.pairs), "lpips") as bar:
        return lpips_pairs(
            pairing,
            model,
            resize_to_match=args.resize_to_match,
            batch_size=args.batch_size or 16,
            workers=workers_of(args),
            progress=bar,
            seed=seed_of(args),
        )


@_user_errors
def _diversity_command(args: argparse.Namespace) -> MetricResult:
    from metrics.engine.lpips_diversity import lpips_diversity
    from metrics.engine.pairs import sample_index_pairs

    paths = list_images(args.dir)
    if len(paths) < 2:
        raise UsageError(f"{args.dir}: diversity needs at least 2 images, found {len(paths)}")
    model = _model(args)
    used = len(
        {int(k) for k in sample_index_pairs(len(paths), args.max_pairs, seed_of(args)).ravel()}
    )
    with progress_for(args, used, "lpips features") as bar:
        return lpips_diversity(
            paths,
            model,
            max_pairs=args.max_pairs,
            seed=seed_of(args),
            size=args.size,
            batch_size=args.batch_size or 16,
            workers=workers_of(args),
            progress=bar,
        )


def register(sub, common: argparse.ArgumentParser) -> None:
    """Add the pixel and LPIPS subcommands to ``python -m metrics``."""
    _pair_parser(
        sub, common, "ssim", "SSIM (Wang et al. 2004, as scikit-image) of image pairs"
    ).set_defaults(func=_ssim_command)
    _pair_parser(
        sub, common, "ms-ssim", "MS-SSIM (Wang et al. 2003, 5 scales) of image pairs (>= 161 px)"
    ).set_defaults(func=_ssim_command)
    _pair_parser(
        sub, common, "psnr", "PSNR (dB) and MSE of image pairs; identical pairs give inf"
    ).set_defaults(func=_psnr_command)
    p = _pair_parser(sub, common, "lpips", "LPIPS v0.1 (Zhang et al. 2018) of image pairs")
    _lpips_options(p)
    p.set_defaults(func=_lpips_command)

    text = "intra-set diversity: mean pairwise LPIPS of the images in one folder"
    d = sub.add_parser("lpips-diversity", parents=[common], help=text, description=text)
    d.add_argument("dir", metavar="DIR", help="folder of images")
    _lpips_options(d)
    d.add_argument(
        "--max-pairs",
        type=positive_int,
        default=2000,
        metavar="N",
        help="use all pairs up to N, else a seeded sample of N pairs (default 2000)",
    )
    d.add_argument(
        "--size",
        type=positive_int,
        default=None,
        metavar="N",
        help="resize every image to NxN (PIL bicubic) first; needed when sizes differ",
    )
    d.set_defaults(func=_diversity_command)
