"""Benchmark metric runs through real Celery workers against ``python -m metrics fid`` on the same images.

Everything lives in a throwaway folder: a SQLite database, Celery's filesystem broker,
the media folder and (unless ``--inception-weights`` is given) seeded random FID
Inception weights built with ``tests/engine/inception_fixtures.save_weights``: the
same architecture and cost as the real network, not its numbers.

1. Write N generated and N reference images and import them.
2. ``python -m metrics fid GEN REF`` on those folders (a fresh process, as a user runs it),
   once before and once after the worker runs (a shared machine's load drifts).
3. One worker (``celery -A evalsite worker -Q gpu,cpu -c 1``, the default prefork
   pool unless ``--pool solo``) with 2 decoding threads: FID (every feature computed),
   FID again and KID (all cached). Then the features are deleted and a worker with 1
   decoding thread computes the FID again: decode threads 1 vs 2 on the same images.
4. Unless ``--no-two-workers``: 2N fresh images, two workers on the same broker.

Times are wall clock as a user sees them: the CLI's whole process (start, model
load, decoding, network, FID) against a run's ``metric_run_create`` to DONE (broker
polling, the worker loading the network on its first chunk, the database). Throughput
is images whose features were computed, per second.

    .venv/bin/python benchmarks/metric_runs.py --n 64
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
    parser.add_argument("--pool", default="prefork", choices=("prefork", "solo"))
    parser.add_argument("--no-two-workers", action="store_true", help="skip the 2-worker run")
    parser.add_argument(
        "--timeout", type=float, default=900, help="give up on any one run after S seconds"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    return parser.parse_args()


def configure(tmp: Path, *, weights: Path | None, chunk: int) -> Path:
    """Environment of this process and the workers (set before ``django.setup()``); the weights file."""
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_BROKER_DIR", "EVALSITE_MEDIA_ROOT"):
        os.environ.pop(name, None)  # never the developer's database or broker
    if weights is not None:
        weights = weights.resolve()
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
    os.environ.update(
        DJANGO_SETTINGS_MODULE="evalsite.settings",
        EVALSITE_VAR_DIR=str(tmp / "var"),
        EVALSITE_INCEPTION_WEIGHTS=str(weights),
        EVALSITE_WEIGHTS_DIR=str(weights.parent),
        EVALSITE_OFFLINE="1",
        EVALSITE_FEATURE_CHUNK_SIZE=str(chunk),
        CELERY_TASK_ALWAYS_EAGER="0",
    )
    # Debug is off (as in production), so settings refuse to start without a key.
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + "x" * 50)
    return weights


class Workers:
    """``count`` worker processes, each with an equal share of the CPU cores."""

    def __init__(
        self,
        count: int,
        log_dir: Path,
        *,
        pool: str = "prefork",
        decode_threads: int | None = None,
        queues: str = "gpu,cpu",
        env: dict[str, str] | None = None,
    ):
        self.count, self.log_dir, self.procs = count, log_dir, []
        self.pool, self.queues, self.extra_env = pool, queues, dict(env or {})
        self.threads = max(1, (os.cpu_count() or 1) // count)
        if decode_threads is not None:
            self.extra_env["EVALSITE_DECODE_WORKERS"] = str(decode_threads)
        self.tag = f"{count}-{decode_threads}-{time.monotonic_ns()}"

    def __enter__(self) -> Workers:
        for i in range(self.count):
            log = self.log_dir / f"worker-{self.tag}-{i}.log"
            env = {**os.environ, "OMP_NUM_THREADS": str(self.threads), **self.extra_env}
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "evalsite", "worker", "-Q", self.queues,
                 "-c", "1", "--pool", self.pool, "--loglevel", "INFO", "--without-gossip",
                 "--without-mingle", "--hostname", f"bench{self.tag}-{i}@%h"],
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


def write_sets(tmp: Path, n: int, *, seed: int, tag: str, sizes=None, fmt: str = "png"):
    """Two folders of N images each (generated and reference), seeded."""
    from tests.engine.inception_fixtures import write_image_set

    gen, ref = tmp / f"gen-{tag}", tmp / f"ref-{tag}"
    write_image_set(gen, seed=seed, count=n, sizes=sizes, fmt=fmt)
    write_image_set(ref, seed=seed + 1, count=n, tint=(30, -20, 10), sizes=sizes, fmt=fmt)
    return gen, ref


def import_sets(tmp: Path, n: int, *, seed: int, tag: str, sizes=None, fmt: str = "png"):
    """Write and import a generated and a reference set; (gen set, ref set, gen dir, ref dir)."""
    from metrics.models import ImageSet
    from metrics.services.imports import image_set_import

    gen, ref = write_sets(tmp, n, seed=seed, tag=tag, sizes=sizes, fmt=fmt)
    image_set_import(path=gen, set_name=f"gen-{tag}", model_name="bench")
    image_set_import(path=ref, set_name=f"ref-{tag}", kind="reference")
    sets = ImageSet.objects.get(name=f"gen-{tag}"), ImageSet.objects.get(name=f"ref-{tag}")
    return (*sets, gen, ref)


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


def cli_fid(
    gen: Path, ref: Path, weights: Path, *, device: str = "cpu", extra=()
) -> tuple[float, float]:
    """(wall seconds, FID) of ``python -m metrics fid GEN REF`` as a fresh process."""
    cmd = [sys.executable, "-m", "metrics", "fid", str(gen), str(ref), "--force", "--json",
           "--no-progress", "--device", device, "--inception-weights", str(weights), *extra]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=os.environ)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"python -m metrics fid failed:\n{done.stderr[-3000:]}")
    return wall, float(json.loads(done.stdout)["value"])


def main() -> None:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="evalsite-bench-"))
    try:
        n = args.n
        weights = configure(
            tmp, weights=args.inception_weights, chunk=args.chunk_size or max(4, n // 4)
        )
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        import torch

        from metrics.models import Feature

        threads = settings.EVALSITE_DECODE_WORKERS
        print(
            f"N = {n} images per set (2N = {2 * n} features per first run), "
            f"chunks of {os.environ['EVALSITE_FEATURE_CHUNK_SIZE']}, {os.cpu_count()} CPU cores, "
            f"pool {args.pool}, CUDA: {torch.cuda.is_available()}, torch {torch.__version__}"
        )
        rows = []
        gen, ref, gen_dir, ref_dir = import_sets(tmp, n, seed=1, tag="a")
        fid = {"metric": "fid", "image_set": gen, "reference_set": ref, "params": {"force": True}}
        cli_wall, cli_value = cli_fid(gen_dir, ref_dir, weights)
        with Workers(1, tmp, pool=args.pool, decode_threads=2) as one:
            first, run = timed_run(one, args.timeout, **fid)
            rows.append(("FID, first run, 1 worker", first, run))
            again, run2 = timed_run(one, args.timeout, **fid)
            rows.append(("FID again, cached, 1 worker", again, run2))
            kid, run3 = timed_run(one, args.timeout, metric="kid", image_set=gen,
                                  reference_set=ref,
                                  params={"subsets": 10, "subset_size": min(n, 1000)})  # fmt: skip
            rows.append(("KID, cached, 1 worker", kid, run3))
        Feature.objects.all().delete()
        with Workers(1, tmp, pool=args.pool, decode_threads=1) as one_thread:
            first_t1, run_t1 = timed_run(one_thread, args.timeout, **fid)
            rows.append(("FID, first run, 1 decode thread", first_t1, run_t1))
        # The CLI again: on a shared machine the load drifts; bracketing the worker runs shows it.
        cli_wall_after, _ = cli_fid(gen_dir, ref_dir, weights)
        if not args.no_two_workers:
            gen2, ref2, _, _ = import_sets(tmp, n, seed=11, tag="b")
            with Workers(2, tmp, pool=args.pool, decode_threads=threads) as two:
                both, run4 = timed_run(two, args.timeout, metric="fid", image_set=gen2,
                                       reference_set=ref2, params={"force": True})  # fmt: skip
                rows.append(("FID, first run, 2 workers", both, run4))
                shares, threads_two = two.chunks_done(), two.threads

        print()
        print(f"{'run':34} {'wall s':>8} {'computed':>9} {'images/s':>9} {'value':>12}")
        print(f"{'python -m metrics fid (CLI)':34} {cli_wall:8.2f} {2 * n:9d} "
              f"{2 * n / cli_wall:9.2f} {cli_value:12.6g}")  # fmt: skip
        print(f"{'python -m metrics fid (CLI), after':34} {cli_wall_after:8.2f} {2 * n:9d} "
              f"{2 * n / cli_wall_after:9.2f} {cli_value:12.6g}")  # fmt: skip
        for label, wall, r in rows:
            rate = f"{r.features_computed / wall:9.2f}" if r.features_computed else f"{'-':>9}"
            print(f"{label:34} {wall:8.2f} {r.features_computed:9d} {rate} {r.value:12.6g}")
        print()
        print(
            f"worker vs CLI, first FID on the same {2 * n} images: {cli_wall / first:.2f}x the CLI's "
            f"throughput before the worker runs, {cli_wall_after / first:.2f}x after "
            f"(target >= 0.9x); values {run.value:.6g} vs {cli_value:.6g} "
            f"(relative difference {abs(run.value - cli_value) / abs(cli_value):.1e})"
        )
        print(
            f"decode threads: 2 threads {2 * n / first:.2f} images/s, 1 thread "
            f"{2 * n / first_t1:.2f} images/s ({first_t1 / first:.2f}x)"
        )
        print(f"cached FID vs first: {again:.2f} s vs {first:.2f} s ({first / again:.1f}x faster)")
        if not args.no_two_workers:
            print(
                f"2 workers ({threads_two} thread(s) each): "
                f"{2 * n / both:.2f} images/s vs 1 worker {2 * n / first:.2f} ({first / both:.2f}x); "
                f"chunks per worker: {shares}"
            )
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
