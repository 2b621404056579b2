"""One command for a machine with a GPU: exactness on CUDA, extractor throughput, GPU busy, a real worker.

    python benchmarks/gpu_check.py                       # on a GPU machine (< 8 minutes on one H200)
    python benchmarks/gpu_check.py --device cpu --quick  # smoke test anywhere (GPU figures unmeasured)

1. **Exact fp32 on CUDA vs CPU**: FID (FID Inception pool3) and CLIP score of the
   same images computed on the GPU and on the CPU; relative differences printed.
2. **Extractor throughput** through the feature pipeline (decoding threads, uint8
   batches, resize / CLIP preprocessing on the device): images/s of the Inception and
   the CLIP image extractor at batch 64 and 256, and the GPU busy fraction sampled
   every 100 ms with ``nvidia-smi`` while they run.
3. **The same through a real worker**: a Celery worker process (prefork pool,
   ``-Q gpu,cpu``, SQLite + filesystem broker in a temporary folder) computes an FID
   run; images/s from ``metric_run_create`` to DONE and the GPU busy fraction.

Weights: the real files when they are there (``EVALSITE_WEIGHTS_DIR`` with
``pt_inception-2015-12-05-6726825d.pth``, the CLIP checkpoint in the Hugging Face
cache or ``--clip-model DIR``); otherwise random weights built here (no internet
needed): the FID Inception with the test suite's seeded weights, CLIP ViT-L/14 with
random weights (``--quick``: the tests' tiny CLIP). Random weights cost the same as
real ones, so the speed figures hold; the exactness figures compare two devices on
the same weights, so they hold too. ``--json FILE`` writes every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

INCEPTION = "pt_inception-2015-12-05-6726825d.pth"
UNMEASURED = "unmeasured"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    p.add_argument("--quick", action="store_true", help="tiny sets and models: a smoke test")
    p.add_argument("--clip-model", default=None, help="CLIP checkpoint name or directory")
    p.add_argument("--skip-worker", action="store_true", help="leave out the real-worker part")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="write figures here")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return p.parse_args(argv)


class Report:
    """Figures in the order measured; a figure may be 'unmeasured' with the reason."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, name: str, value, unit: str = "", note: str = "") -> None:
        self.rows.append({"name": name, "value": value, "unit": unit, "note": note})
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"  {name:58} {shown:>12} {unit:8} {note}", flush=True)

    def unmeasured(self, name: str, why: str) -> None:
        self.add(name, UNMEASURED, "", why)


# ----------------------------------------------------------------------------- GPU busy


class GpuBusy:
    """Samples ``nvidia-smi``'s utilization.gpu every 100 ms while in the ``with`` block."""

    def __init__(self, device) -> None:
        self.device, self.samples, self.proc, self.why = device, [], None, ""
        self.tool = shutil.which("nvidia-smi")
        if device.type != "cuda":
            self.why = "device is the CPU"
        elif self.tool is None:
            self.why = "nvidia-smi not found"

    def _physical_id(self) -> str:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")
        index = self.device.index or 0
        # CUDA_VISIBLE_DEVICES renumbers GPUs; nvidia-smi takes the physical index or a UUID.
        return visible[index].strip() if visible != [""] and index < len(visible) else str(index)

    def __enter__(self) -> GpuBusy:
        if not self.why:
            cmd = [self.tool, "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                   "-i", self._physical_id(), "-lms", "100"]  # fmt: skip
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()
        return self

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                self.samples.append(float(line.strip()))
            except ValueError:
                pass

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.reader.join(5)

    def fraction(self) -> float | None:
        return statistics.fmean(self.samples) / 100 if len(self.samples) >= 3 else None

    def report(self, report: Report, name: str) -> None:
        frac = self.fraction()
        if frac is None:
            report.unmeasured(name, self.why or f"only {len(self.samples)} nvidia-smi samples")
        else:
            report.add(name, frac, "", f"{len(self.samples)} samples of nvidia-smi utilization.gpu")


# ----------------------------------------------------------------------------- models


def inception_weights(tmp: Path) -> tuple[Path, str]:
    folder = os.environ.get("EVALSITE_WEIGHTS_DIR")
    if folder and (Path(folder) / INCEPTION).is_file():
        return Path(folder) / INCEPTION, "real weights"
    from tests.engine.inception_fixtures import save_weights

    return save_weights(tmp / "weights"), "seeded random weights (real architecture)"


def _random_clip_l14(directory: Path, device) -> Path:
    """CLIP ViT-L/14's architecture with random weights, saved like a hub checkpoint."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    from tests.engine import clip_fixtures as cf
    from tests.engine.preference_fixtures import build_processor_dir

    vocab = len(cf.tiny_vocab())
    config = CLIPConfig(
        text_config={"vocab_size": vocab, "hidden_size": 768, "intermediate_size": 3072,
                     "num_hidden_layers": 12, "num_attention_heads": 12,
                     "max_position_embeddings": 77, "eos_token_id": vocab - 1,
                     "bos_token_id": vocab - 2, "pad_token_id": vocab - 1},
        vision_config={"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                       "num_attention_heads": 16, "image_size": 224, "patch_size": 14},
        projection_dim=768,
    )  # fmt: skip
    torch.manual_seed(0)
    # Initialise where it is fast (a GPU initialises 428M parameters in a moment).
    with torch.device(device if device.type == "cuda" else "cpu"):
        model = CLIPModel(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.to("cpu").save_pretrained(directory)
    return build_processor_dir(directory, size=224)  # the tests' tokenizer, CLIP preprocessing


def clip_checkpoint(args, tmp: Path, device) -> tuple[str, str]:
    from metrics.engine.clip import DEFAULT_CLIP_MODEL, resolve_clip_dir
    from metrics.engine.weights import WeightsMissingError

    if args.quick:
        from tests.engine.clip_fixtures import build_tiny_clip

        return str(build_tiny_clip(tmp / "tiny-clip")), "the tests' tiny CLIP (random weights)"
    try:
        real = resolve_clip_dir(args.clip_model or DEFAULT_CLIP_MODEL, download=False)
        return str(real), "real weights"
    except WeightsMissingError:
        if args.clip_model:
            raise
    return str(_random_clip_l14(tmp / "clip-l14", device)), "ViT-L/14 with random weights"


# ----------------------------------------------------------------------------- measurements


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-30)


def exactness(report: Report, sets, weights: Path, clip_dir: str, device, prompts) -> None:
    import numpy as np

    from metrics.engine.clip import clip_image_embeddings, clip_text_embeddings, load_clip
    from metrics.engine.clip_score import clip_score_from_embeddings
    from metrics.engine.extractors import InceptionExtractor
    from metrics.engine.fid import fid_from_features

    if device.type != "cuda":
        for name in ("FID, CUDA fp32 vs CPU (relative difference)",
                     "pool3 features, CUDA vs CPU (max relative difference)",
                     "CLIP score, CUDA fp32 vs CPU (relative difference)"):  # fmt: skip
            report.unmeasured(name, "no GPU (--device cpu)")
        return
    fids, feats = {}, {}
    for where in ("cpu", device):
        ext = InceptionExtractor(weights, device=where)
        a = ext.extract_paths(sets["gen"], batch_size=64)["pool3"]
        b = ext.extract_paths(sets["ref"], batch_size=64)["pool3"]
        fids[str(where)] = fid_from_features(a, b, force=True).value
        feats[str(where)] = a
    cpu_fid, gpu_fid = fids["cpu"], fids[str(device)]
    report.add("FID on CPU", cpu_fid)
    report.add("FID on CUDA (fp32, TF32 off)", gpu_fid)
    report.add("FID, CUDA fp32 vs CPU (relative difference)", relative(gpu_fid, cpu_fid))
    diff = np.abs(feats[str(device)] - feats["cpu"]).max() / np.abs(feats["cpu"]).max()
    report.add("pool3 features, CUDA vs CPU (max relative difference)", float(diff))
    scores = {}
    paths = sets["clip"]
    for where in ("cpu", device):
        bundle = load_clip(clip_dir, device=where)
        img = clip_image_embeddings(bundle, paths, batch_size=32)
        txt = clip_text_embeddings(bundle, prompts[: len(paths)])
        scores[str(where)] = clip_score_from_embeddings(img, txt, resamples=10).value
    report.add("CLIP score on CPU", scores["cpu"])
    report.add("CLIP score on CUDA (fp32)", scores[str(device)])
    report.add(
        "CLIP score, CUDA fp32 vs CPU (relative difference)",
        relative(scores[str(device)], scores["cpu"]),
    )


def throughput(report: Report, paths, weights: Path, clip_dir: str, device, batches) -> None:
    import torch

    from metrics.engine.clip import ClipImageExtractor
    from metrics.engine.extractors import InceptionExtractor
    from metrics.engine.loading import default_workers

    extractors = {
        "Inception (legacy-tf)": InceptionExtractor(weights, device=device),
        "Inception (clean)": InceptionExtractor(weights, device=device, resize="clean"),
        "CLIP image": ClipImageExtractor(clip_dir, device=device),
    }
    workers = default_workers(device.type)
    for label, ext in extractors.items():
        ext.extract_paths(paths[: max(batches)], batch_size=max(batches))  # warm up
        for bs in batches:
            with GpuBusy(device) as busy:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                ext.extract_paths(paths, batch_size=bs, workers=workers)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                wall = time.perf_counter() - start
            report.add(f"{label} images/s, batch {bs}", len(paths) / wall, "img/s",
                       f"{len(paths)} images, {workers} decoding threads")  # fmt: skip
            busy.report(report, f"{label} GPU busy fraction, batch {bs}")


def through_worker(report: Report, tmp: Path, weights: Path, device, n: int, batch: int) -> None:
    import metric_runs as mr

    mr.configure(tmp, weights=weights, chunk=max(16, n // 2))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    gen, ref, _, _ = mr.import_sets(tmp, n, seed=41, tag="worker", sizes=[(512, 512)], fmt="jpg")
    env = {"EVALSITE_BATCH_SIZE": str(batch)}
    if device.type == "cuda":
        env["EVALSITE_CUDA_DEVICE"] = str(device.index or 0)
    else:
        env["EVALSITE_CUDA_DEVICE"] = "cpu"
    with mr.Workers(1, tmp, pool="prefork", env=env) as worker, GpuBusy(device) as busy:
        wall, run = mr.timed_run(worker, 600, metric="fid", image_set=gen, reference_set=ref,
                                 params={"force": True})  # fmt: skip
    report.add(
        f"worker (prefork, -Q gpu,cpu) FID run, batch {batch}",
        run.features_computed / wall,
        "img/s",
        f"{run.features_computed} features, {wall:.1f} s create-to-done, FID {run.value:.6g}",
    )
    busy.report(report, "worker GPU busy fraction during the run")


def make_images(tmp: Path, quick: bool):
    from tests.engine import inception_fixtures as fx

    if quick:
        gen = fx.write_image_set(tmp / "gen", seed=1, count=8, sizes=[(64, 64), (96, 80)])
        ref = fx.write_image_set(tmp / "ref", seed=2, count=8, tint=(30, -20, 10), sizes=[(64, 64)])
        return {"gen": gen, "ref": ref, "clip": gen[:4], "speed": gen[:4]}
    gen = fx.write_image_set(tmp / "gen", seed=1, count=256, sizes=[(256, 256), (512, 384)])
    ref = fx.write_image_set(tmp / "ref", seed=2, count=256, tint=(30, -20, 10), sizes=[(256, 256)])
    speed = fx.write_image_set(tmp / "speed", seed=3, count=2048, sizes=[(512, 512)], fmt="jpg")
    return {"gen": gen, "ref": ref, "clip": gen[:64], "speed": speed}


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    from metrics.engine.device import DeviceError, resolve_device

    try:
        device = resolve_device(args.device)
    except DeviceError as exc:
        print(f"gpu_check: {exc}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="evalsite-gpu-check-"))
    report = Report()
    started = time.perf_counter()
    try:
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        print(f"device {device} ({name}), torch {torch.__version__}, {os.cpu_count()} CPU cores")
        if device.type == "cuda":
            # Exact mode: no TF32 anywhere (the extractors also switch it off for fp32).
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
        weights, w_note = inception_weights(tmp)
        clip_dir, c_note = clip_checkpoint(args, tmp, device)
        print(f"FID Inception: {w_note}; CLIP: {c_note}")
        sets = make_images(tmp, args.quick)
        prompts = [f"a photo of a red cat number {i}" for i in range(len(sets["clip"]))]
        print("exactness (same weights, same images):")
        exactness(report, sets, weights, clip_dir, device, prompts)
        batches = (2, 4) if args.quick else (64, 256)
        print("extractor throughput through the pipeline:")
        throughput(report, sets["speed"], weights, clip_dir, device, batches)
        if args.skip_worker:
            report.unmeasured("worker FID run", "--skip-worker")
        else:
            print("through a real worker:")
            n = 8 if args.quick else 1024
            through_worker(report, tmp, weights, device, n, batches[-1])
        if device.type != "cuda":
            print("GPU figures are unmeasured: this ran on the CPU (--device cpu).")
        print(f"done in {time.perf_counter() - started:.0f} s")
        if args.json:
            args.json.write_text(json.dumps({"device": str(device), "device_name": name,
                                             "weights": w_note, "clip": c_note,
                                             "figures": report.rows}, indent=2))  # fmt: skip
        return 0
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
