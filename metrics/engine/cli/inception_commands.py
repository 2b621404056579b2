"""Subcommands on the FID Inception: ``fid``, ``fid-stats``, ``kid``, ``is``, ``class-kl``, ``fetch-weights``."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from metrics.engine.cli.common import (
    UsageError,
    list_images,
    pick_device,
    positive_int,
    progress_for,
)
from metrics.engine.result import MetricResult

DEFAULT_BATCH_CPU = 8  # measured on a 2-core CPU (benchmarks/feature_throughput.py)
DEFAULT_BATCH_GPU = 128


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the Inception subcommands to ``python -m metrics``."""
    p = sub.add_parser(
        "fid",
        parents=[common],
        help="Fréchet Inception Distance between two folders (or .npz statistics)",
        description="FID between two image folders; either may be an .npz of statistics "
        "(ours from fid-stats, or pytorch-fid's mu/sigma).",
    )
    p.add_argument("dir_a", metavar="DIR_A")
    p.add_argument("dir_b", metavar="DIR_B")
    p.add_argument("--force", action="store_true", help="compute even with fewer images than 2049")
    _precision_option(p)
    p.add_argument(
        "--check-precision",
        action="store_true",
        help="with --precision bf16/fp16: also compute the exact fp32 FID and report the error",
    )
    p.set_defaults(func=cmd_fid)

    p = sub.add_parser(
        "fid-stats",
        parents=[common],
        help="save a folder's FID statistics to an .npz (reusable as a fid input)",
    )
    p.add_argument("dir", metavar="DIR")
    p.add_argument("output", metavar="OUT.npz")
    _precision_option(p)
    p.set_defaults(func=cmd_fid_stats)

    p = sub.add_parser(
        "kid", parents=[common], help="Kernel Inception Distance between two folders"
    )
    p.add_argument("dir_a", metavar="DIR_A")
    p.add_argument("dir_b", metavar="DIR_B")
    p.add_argument("--subsets", type=positive_int, default=100, metavar="N")
    p.add_argument("--subset-size", type=positive_int, default=1000, metavar="M")
    _precision_option(p)
    p.set_defaults(func=cmd_kid)

    p = sub.add_parser("is", parents=[common], help="Inception Score of a folder")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--splits", type=positive_int, default=10, metavar="N")
    p.add_argument("--no-shuffle", action="store_true", help="split in file order (no shuffle)")
    _precision_option(p)
    p.set_defaults(func=cmd_is)

    p = sub.add_parser(
        "class-kl",
        parents=[common],
        help="KL(reference || generated) of the mean Inception class distributions",
    )
    p.add_argument("generated", metavar="GENERATED_DIR")
    p.add_argument("reference", metavar="REFERENCE_DIR")
    _precision_option(p)
    p.set_defaults(func=cmd_class_kl)

    p = sub.add_parser(
        "fetch-weights",
        help="download every known weights file (or the named ones) into the cache",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="file names (default: all known)")
    p.add_argument("--dest", default=None, metavar="DIR", help="directory (default: the cache)")
    p.add_argument("--list", action="store_true", help="list known weights files and exit")
    p.add_argument(
        "--clip-model",
        action="append",
        default=None,
        metavar="NAME",
        help="also fetch this CLIP checkpoint into the Hugging Face cache (repeatable; with no "
        "NAME and no --clip-model, every file and the default CLIP model are fetched)",
    )
    p.set_defaults(func=cmd_fetch_weights)


def _precision_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16", "fp16"),
        default="fp32",
        help="network arithmetic: fp32 is exact (default); bf16/fp16 are faster, approximate, opt-in",
    )


# ----------------------------------------------------------------------------- helpers


def _extractor(args: argparse.Namespace):
    from metrics.engine.extractors import InceptionExtractor

    device = pick_device(args.device)
    try:
        return InceptionExtractor(
            args.inception_weights,
            resize=args.resize,
            device=device,
            precision=getattr(args, "precision", "fp32"),
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _features(extractor, args: argparse.Namespace, directory: str, label: str) -> tuple[dict, dict]:
    """Features of every image in ``directory`` and a description of the set."""
    paths = list_images(directory)
    batch = args.batch_size or (
        DEFAULT_BATCH_GPU if extractor.device.type == "cuda" else DEFAULT_BATCH_CPU
    )
    desc = f"{label}: {Path(directory).name}" if label else Path(directory).name
    with progress_for(args, len(paths), desc) as bar:
        feats = extractor.extract_paths(paths, batch_size=batch, workers=args.workers, progress=bar)
    formats = Counter(p.suffix.lower().lstrip(".") for p in paths)
    return feats, {
        "path": str(directory),
        "n": len(paths),
        "formats": dict(sorted(formats.items())),
    }


def _check_folders(*directories: str) -> None:
    """Fail on a bad folder before any network is loaded or image decoded."""
    for directory in directories:
        list_images(directory)


def _params(extractor, sets: dict[str, dict]) -> dict:
    params = extractor.provenance()
    params["sets"] = sets
    if extractor.precision != "fp32":
        params["note"] = (
            f"{extractor.precision} features: approximate; "
            "benchmarks/feature_throughput.py --precision measures the error against fp32"
        )
    return params


def _user_errors(fn):
    """Turn a metric's refusal (ValueError: too few images, bad .npz) into a usage error."""

    def wrapper(args: argparse.Namespace):
        try:
            return fn(args)
        except UsageError:
            raise
        except ValueError as exc:
            from metrics.engine.images import ImageError

            if isinstance(exc, ImageError):
                raise
            raise UsageError(str(exc)) from None

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


def _stats_input(path: str):
    from metrics.engine.fid import load_stats

    return load_stats(path) if path.endswith(".npz") and Path(path).is_file() else None


# ----------------------------------------------------------------------------- commands


@_user_errors
def cmd_fid(args: argparse.Namespace) -> MetricResult:
    """FID between two folders or .npz statistics."""
    from metrics.engine.fid import FeatureStats, check_enough_samples, fid_from_stats
    from metrics.engine.inception import POOL3_DIM

    inputs = {"a": args.dir_a, "b": args.dir_b}
    stats, sets, folders = {}, {}, {}
    for key, path in inputs.items():
        loaded = _stats_input(path)
        if loaded is not None:
            stats[key] = loaded
            sets[key] = {"path": path, "n": loaded.n, "statistics_file": True}
        else:
            folders[key] = path
            _check_folders(path)
            if not args.force:
                # Refuse before loading a network or decoding anything.
                check_enough_samples(len(list_images(path)), POOL3_DIM, f"set {key.upper()}")
    extractor = _extractor(args) if folders else None
    for key, path in folders.items():
        feats, sets[key] = _features(extractor, args, path, key.upper())
        stats[key] = FeatureStats.from_features(feats["pool3"])
    params = _params(extractor, sets) if extractor is not None else {"sets": sets}
    result = fid_from_stats(stats["a"], stats["b"], force=args.force, params=params)
    if args.check_precision and extractor is not None and extractor.precision != "fp32":
        exact_args = argparse.Namespace(**{**vars(args), "precision": "fp32"})
        exact = _extractor(exact_args)
        exact_stats = dict(stats)
        for key, path in folders.items():
            feats, _ = _features(exact, exact_args, path, f"{key.upper()} fp32")
            exact_stats[key] = FeatureStats.from_features(feats["pool3"])
        reference = fid_from_stats(exact_stats["a"], exact_stats["b"], force=args.force).value
        error = result.value - reference
        result.extra["fp32_value"] = reference
        result.extra["precision_error"] = error
        result.extra.setdefault("notes", []).append(
            f"{extractor.precision} FID {result.value:.6g} vs exact fp32 {reference:.6g}: "
            f"error {error:+.4g} ({abs(error) / max(abs(reference), 1e-12):.2e} relative)"
        )
    return result


@_user_errors
def cmd_fid_stats(args: argparse.Namespace) -> int:
    """Save a folder's FID statistics to an .npz."""
    from metrics.engine.fid import FeatureStats

    out = Path(args.output)
    if out.suffix != ".npz":
        raise UsageError(f"{out}: the statistics file name must end in .npz")
    _check_folders(args.dir)
    extractor = _extractor(args)
    feats, info = _features(extractor, args, args.dir, "")
    stats = FeatureStats.from_features(feats["pool3"])
    tmp = out.with_name(out.name + ".part.npz")
    stats.save(tmp)
    tmp.replace(out)  # nothing half written under the final name
    sys.stdout.write(f"saved statistics of {info['n']} images to {out}\n")
    return 0


@_user_errors
def cmd_kid(args: argparse.Namespace) -> MetricResult:
    """KID between two folders."""
    from metrics.engine.kid import DEFAULT_SEED, kid_from_features

    _check_folders(args.dir_a, args.dir_b)
    extractor = _extractor(args)
    fa, sa = _features(extractor, args, args.dir_a, "A")
    fb, sb = _features(extractor, args, args.dir_b, "B")
    return kid_from_features(
        fa["pool3"],
        fb["pool3"],
        subsets=args.subsets,
        subset_size=args.subset_size,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        params=_params(extractor, {"a": sa, "b": sb}),
    )


@_user_errors
def cmd_is(args: argparse.Namespace) -> MetricResult:
    """Inception Score of a folder."""
    from metrics.engine.inception_score import DEFAULT_SEED, inception_score_from_logits

    _check_folders(args.dir)
    extractor = _extractor(args)
    feats, info = _features(extractor, args, args.dir, "")
    return inception_score_from_logits(
        feats["logits_unbiased"],
        splits=args.splits,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        shuffle=not args.no_shuffle,
        params=_params(extractor, {"set": info}),
    )


@_user_errors
def cmd_class_kl(args: argparse.Namespace) -> MetricResult:
    """KL between the class distributions of a generated and a reference folder."""
    from metrics.engine.class_kl import class_kl_from_logits

    _check_folders(args.generated, args.reference)
    extractor = _extractor(args)
    fg, sg = _features(extractor, args, args.generated, "generated")
    fr, sr = _features(extractor, args, args.reference, "reference")
    return class_kl_from_logits(
        fg["logits_unbiased"],
        fr["logits_unbiased"],
        params=_params(extractor, {"generated": sg, "reference": sr}),
    )


def cmd_fetch_weights(args: argparse.Namespace) -> int:
    """Download weights files ahead of use (checksum verified, atomic)."""
    from metrics.engine import weights

    _load_all_specs()
    if args.list:
        for spec in weights.REGISTRY.values():
            sys.stdout.write(f"{spec.name}\t{spec.description}\n")
        for name, what in _hub_checkpoints():
            sys.stdout.write(f"{name}\t{what} (Hugging Face hub)\n")
        return 0
    clip_models = list(args.clip_model or [])
    processors: list[tuple[str, tuple[str, ...]]] = []
    if not args.names and not clip_models:
        from metrics.engine.clip import DEFAULT_CLIP_MODEL
        from metrics.engine.imagereward import TOKENIZER as BERT
        from metrics.engine.imagereward import TOKENIZER_FILES
        from metrics.engine.pickscore import PICKSCORE_MODEL, PICKSCORE_PROCESSOR
        from metrics.engine.preference import PROCESSOR_FILES

        clip_models = [DEFAULT_CLIP_MODEL, PICKSCORE_MODEL]
        # The preference scorers' preprocessing / tokenizer files, and which files each needs.
        processors = [(PICKSCORE_PROCESSOR, PROCESSOR_FILES), (BERT, TOKENIZER_FILES)]
    names = args.names or ([] if args.clip_model else list(weights.REGISTRY))
    unknown = [n for n in names if n not in weights.REGISTRY]
    if unknown:
        raise UsageError(
            f"unknown weights {', '.join(unknown)}; known: {', '.join(weights.REGISTRY)}"
        )
    dest = Path(args.dest) if args.dest else weights.cache_dir()
    for name in names:
        spec = weights.REGISTRY[name]
        target = dest / spec.name
        if target.is_file():
            digest = weights.verify(spec, target)
            sys.stdout.write(
                f"{spec.name}: already present at {target} ({_checked(spec, digest)})\n"
            )
            continue
        path = weights.download(spec, dest)
        digest = weights.file_sha256(path)
        sys.stdout.write(f"{spec.name}: saved to {path} ({_checked(spec, digest)})\n")
    for model in clip_models:
        from metrics.engine.clip import clip_fetch

        sys.stdout.write(f"{model}: in {clip_fetch(model)}\n")
    for name, files in processors:
        from metrics.engine.preference import resolve_processor_dir

        where = resolve_processor_dir(name, download=True, files=files)
        sys.stdout.write(f"{name} (preprocessing files): in {where}\n")
    return 0


def _checked(spec, digest: str) -> str:
    if spec.sha256 or spec.md5:
        return "checksum ok"
    return f"no published checksum; sha256 {digest[:16]}... recorded in results"


def _hub_checkpoints() -> list[tuple[str, str]]:
    from metrics.engine.clip import DEFAULT_CLIP_MODEL
    from metrics.engine.imagereward import TOKENIZER as BERT
    from metrics.engine.pickscore import PICKSCORE_MODEL, PICKSCORE_PROCESSOR

    return [
        (DEFAULT_CLIP_MODEL, "CLIP (CLIP score, aesthetic, CMMD...)"),
        (PICKSCORE_MODEL, "PickScore"),
        (PICKSCORE_PROCESSOR, "preprocessing and tokenizer files of PickScore and HPS v2.1"),
        (BERT, "tokenizer of ImageReward"),
    ]


def _load_all_specs() -> None:
    # Modules register their weights specs on import (LPIPS lives in lpips.py).
    import importlib

    for module in (
        "metrics.engine.lpips",
        "metrics.engine.aesthetic",
        "metrics.engine.hpsv2",
        "metrics.engine.imagereward",
    ):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
