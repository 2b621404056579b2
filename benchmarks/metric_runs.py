"""Benchmark metric runs through real Celery workers: first run vs cached run, 1 vs 2 workers.

Everything lives in a throwaway folder: a SQLite database, Celery's filesystem broker,
the media folder and (unless ``--inception-weights`` is given) seeded random FID
Inception weights built with ``tests/engine/inception_fixtures.save_weights``: the
same architecture and cost as the real network, not its numbers.

1. Import N generated and N reference images, start one worker
   (``celery -A evalsite worker -Q gpu,cpu -c 1 --pool solo``), time a first FID run
   (every feature computed), then FID again and KID over the same images (all cached).
2. Stop it, import 2N fresh images, start two workers on the same broker, and time a
   first FID run again.

Times are wall clock from ``metric_run_create`` to the row being DONE, as a user sees
them: they include the broker's polling and each worker loading the network on its
first chunk. Throughput is images whose features were computed, per second.

    .venv/bin/python benchmarks/metric_runs.py --n 64
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INCEPTION = "pt_inception-2015-12-05-6726825d.pth"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=64, help="images per set (default 64)")
    parser.add_argument(
        "--inception-weights",
        type=Path,
        help="the FID Inception weights file; default: seeded random weights built here",
    )
    parser.add_argument(
        "--chunk-size",
        type=int,
        help="EVALSITE_FEATURE_CHUNK_SIZE (default: N/4, so two workers share a run)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="give up on any one run after S seconds"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args()


def configure(args: argparse.Namespace, tmp: Path) -> dict[str, str]:
    """Environment of this process and the workers; set before ``django.setup()``."""
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_BROKER_DIR", "EVALSITE_MEDIA_ROOT"):
        os.environ.pop(name, None)  # never the developer's database or broker
    if args.inception_weights:
        weights = args.inception_weights.resolve()
        if not weights.is_file():
            sys.exit(f"--inception-weights {weights}: no such file")
        print(f"Inception weights: {weights}")
    else:
        sys.path.insert(0, str(ROOT))
        from tests.engine.inception_fixtures import save_weights

        weights = save_weights(tmp / "weights")
        print(
            f"Inception weights: seeded random weights built in {weights.parent} "
            "(same network and cost as the real file, not its values)"
        )
    chunk = args.chunk_size or max(4, args.n // 4)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="evalsite.settings",
        EVALSITE_VAR_DIR=str(tmp / "var"),
        EVALSITE_INCEPTION_WEIGHTS=str(weights),
        EVALSITE_WEIGHTS_DIR=str(weights.parent),
        EVALSITE_OFFLINE="1",
        EVALSITE_FEATURE_CHUNK_SIZE=str(chunk),
        CELERY_TASK_ALWAYS_EAGER="0",
    )
    return dict(os.environ)


class Workers:
    """``count`` worker processes, each with an equal share of the CPU cores."""

    def __init__(self, count: int, log_dir: Path):
        self.count, self.log_dir, self.procs = count, log_dir, []
        self.threads = max(1, (os.cpu_count() or 1) // count)

    def __enter__(self) -> Workers:
        for i in range(self.count):
            log = self.log_dir / f"worker-{self.count}-{i}.log"
            env = {**os.environ, "OMP_NUM_THREADS": str(self.threads)}
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "evalsite", "worker", "-Q", "gpu,cpu",
                 "-c", "1", "--pool", "solo", "--loglevel", "INFO", "--without-gossip",
                 "--without-mingle", "--hostname", f"bench{self.count}-{i}@%h"],
                cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            self.procs.append((proc, log))
        deadline = time.monotonic() + 180
        for proc, log in self.procs:
            while b" ready." not in log.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__(None, None, None)
                    raise SystemExit(f"a worker did not start; its log:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
        return self

    def __exit__(self, *exc) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def chunks_done(self) -> list[int]:
        """Chunk tasks each worker finished (to see that two workers really shared a run)."""
        return [
            sum(
                "metric_run_chunk_task[" in line and "succeeded" in line
                for line in log.read_text(errors="replace").splitlines()
            )
            for _, log in self.procs
        ]

    def log_tail(self) -> str:
        return "\n".join(log.read_text()[-2000:] for _, log in self.procs)


def import_sets(tmp: Path, n: int, *, seed: int, tag: str):
    from metrics.models import ImageSet
    from metrics.services.imports import image_set_import
    from tests.engine.inception_fixtures import write_image_set

    gen, ref = tmp / f"gen-{tag}", tmp / f"ref-{tag}"
    write_image_set(gen, seed=seed, count=n)
    write_image_set(ref, seed=seed + 1, count=n, tint=(30, -20, 10))
    image_set_import(path=gen, set_name=f"gen-{tag}", model_name="bench")
    image_set_import(path=ref, set_name=f"ref-{tag}", kind="reference")
    return ImageSet.objects.get(name=f"gen-{tag}"), ImageSet.objects.get(name=f"ref-{tag}")


def timed_run(workers: Workers, timeout: float, **kwargs) -> tuple[float, object]:
    """Create a run (its plan is enqueued at once: autocommit) and wait until it ends."""
    from metrics.models import MetricRun
    from metrics.services.runs import metric_run_create

    start = time.perf_counter()
    run = metric_run_create(**kwargs)
    deadline = time.monotonic() + timeout
    while True:
        run.refresh_from_db()
        if not run.is_active:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"run {run.pk} still {run.status} after {timeout:g} s\n"
                             f"{workers.log_tail()}")  # fmt: skip
        time.sleep(0.05)
    wall = time.perf_counter() - start
    if run.status != MetricRun.Status.DONE:
        raise SystemExit(f"run {run.pk} {run.status}: {run.error}\n{workers.log_tail()}")
    return wall, run


def main() -> None:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="evalsite-bench-"))
    try:
        configure(args, tmp)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        import torch

        n = args.n
        print(
            f"N = {n} images per set (2N = {2 * n} features per first run), "
            f"chunks of {os.environ['EVALSITE_FEATURE_CHUNK_SIZE']}, "
            f"{os.cpu_count()} CPU cores, CUDA: {torch.cuda.is_available()}, torch {torch.__version__}"
        )
        rows = []
        gen, ref = import_sets(tmp, n, seed=1, tag="a")
        with Workers(1, tmp) as one:
            first, run = timed_run(one, args.timeout, metric="fid", image_set=gen,
                                   reference_set=ref, params={"force": True})  # fmt: skip
            rows.append(("FID, first run, 1 worker", first, run))
            again, run2 = timed_run(one, args.timeout, metric="fid", image_set=gen,
                                    reference_set=ref, params={"force": True})  # fmt: skip
            rows.append(("FID again, cached, 1 worker", again, run2))
            kid, run3 = timed_run(one, args.timeout, metric="kid", image_set=gen,
                                  reference_set=ref,
                                  params={"subsets": 10, "subset_size": min(n, 1000)})  # fmt: skip
            rows.append(("KID, cached, 1 worker", kid, run3))
            threads_one = one.threads
        gen2, ref2 = import_sets(tmp, n, seed=11, tag="b")
        with Workers(2, tmp) as two:
            both, run4 = timed_run(two, args.timeout, metric="fid", image_set=gen2,
                                   reference_set=ref2, params={"force": True})  # fmt: skip
            rows.append(("FID, first run, 2 workers", both, run4))
            threads_two = two.threads
            shares = two.chunks_done()

        print()
        print(f"{'run':32} {'wall s':>8} {'computed':>9} {'images/s':>9} {'value':>12}")
        for label, wall, r in rows:
            rate = f"{r.features_computed / wall:9.2f}" if r.features_computed else f"{'-':>9}"
            print(f"{label:32} {wall:8.2f} {r.features_computed:9d} {rate} {r.value:12.6g}")
        print()
        print(f"cached FID vs first: {again:.2f} s vs {first:.2f} s ({first / again:.1f}x faster)")
        print(
            f"throughput: 1 worker ({threads_one} threads) {2 * n / first:.2f} images/s, "
            f"2 workers ({threads_two} thread(s) each) {2 * n / both:.2f} images/s "
            f"({first / both:.2f}x); chunks per worker in the 2-worker run: {shares}"
        )
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
