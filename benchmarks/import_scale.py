"""Benchmark imports of FID-sized sets through the command line: speed and peak memory.

For each N (default 2,000 and 20,000): write N seeded images (mixed PNG and JPEG,
128 to 512 px a side, smooth pictures with noise, so their sizes are like photos'
and generators' outputs), then

- import them with ``python manage.py import_images DIR --set bench-N`` in a child
  process on a fresh SQLite database (or ``--database-url``) and media folder: wall
  time, images/s and the child's peak RSS (``wait4``'s ``ru_maxrss``);
- time a bare loop over the same files that only reads, hashes (sha256) and decodes
  them (``metrics.engine.images.decode_rgb_bytes``): the floor any import has to pay.

Targets (issue 10): peak RSS at the largest N within 1.25x of the smallest N's, and the
import at most 2x the bare loop. Both loops find the files in the page cache (they
were just written), so the comparison is of the work, not of the disk.

    .venv/bin/python benchmarks/import_scale.py                 # 2,000 and 20,000
    .venv/bin/python benchmarks/import_scale.py --sizes 500 2000 --keep
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from metrics.engine.images import decode_rgb_bytes  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--workdir", type=Path, help="folder for everything (default: a temp)")
    parser.add_argument("--database-url", help="default: a fresh SQLite file per N")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    return parser.parse_args()


def write_images(folder: Path, count: int, seed: int = 0) -> int:
    """``count`` images, PNG and JPEG alternately by chance; return their total bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    total = 0
    for i in range(count):
        w, h = (int(v) for v in rng.integers(128, 513, size=2))
        coarse = rng.integers(0, 256, size=(6, 6, 3), dtype=np.uint8)
        img = Image.fromarray(coarse, "RGB").resize((w, h), Image.Resampling.BICUBIC)
        pixels = np.asarray(img, dtype=np.int16) + rng.integers(-6, 7, size=(h, w, 3))
        img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
        path = folder / (f"{i:06d}.png" if rng.random() < 0.5 else f"{i:06d}.jpg")
        img.save(path, quality=90) if path.suffix == ".jpg" else img.save(path)
        total += path.stat().st_size
    return total


def bare_loop(folder: Path) -> float:
    """Seconds to read, hash and decode every file once, in one thread."""
    start = time.perf_counter()
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        hashlib.sha256(data).hexdigest()
        decode_rgb_bytes(data, path.name)
    return time.perf_counter() - start


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS bytes, output) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{out}")
    return elapsed, usage.ru_maxrss * 1024, out  # ru_maxrss is in KiB on Linux


def main() -> None:
    opts = parse_args()
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="evalsite-import-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    rows = []
    try:
        for n in opts.sizes:
            images = work / f"images-{n}"
            t0 = time.perf_counter()
            total = write_images(images, n, seed=n)
            print(f"N={n:,}: wrote {total / 2**20:,.0f} MB in {time.perf_counter() - t0:.0f} s",
                  flush=True)  # fmt: skip
            env = {
                **os.environ,
                "DATABASE_URL": opts.database_url or f"sqlite:///{work / f'db-{n}.sqlite3'}",
                "EVALSITE_MEDIA_ROOT": str(work / f"media-{n}"),
                "EVALSITE_VAR_DIR": str(work / "var"),
                "OMP_NUM_THREADS": "1",
            }
            run_child([python, "manage.py", "migrate", "-v", "0"], env)
            # A bare Django command: the floor of the process's memory, for reference.
            _, base_rss, _ = run_child([python, "manage.py", "check"], env)
            bare = bare_loop(images)
            seconds, rss, out = run_child(
                [python, "manage.py", "import_images", str(images), "--set", f"bench-{n}",
                 "--kind", "reference", "--no-progress"], env,
            )  # fmt: skip
            print(f"  {out.strip()}", flush=True)
            rows.append((n, total, seconds, rss, bare, base_rss))
            print(
                f"  import {seconds:.1f} s ({n / seconds:,.0f} images/s), peak RSS "
                f"{rss / 2**20:,.0f} MB (a bare `manage.py check`: {base_rss / 2**20:,.0f} MB); "
                f"bare read+hash+decode loop {bare:.1f} s ({n / bare:,.0f} images/s); "
                f"import / bare = {seconds / bare:.2f}",
                flush=True,
            )
            if not opts.keep:
                shutil.rmtree(images)
                shutil.rmtree(work / f"media-{n}", ignore_errors=True)
    finally:
        if not opts.keep and opts.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    print("\n| N | MB | import s | images/s | peak RSS MB | bare loop s | import / bare |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, total, seconds, rss, bare, _ in rows:
        print(f"| {n:,} | {total / 2**20:,.0f} | {seconds:.1f} | {n / seconds:,.0f} | "
              f"{rss / 2**20:,.0f} | {bare:.1f} | {seconds / bare:.2f} |")  # fmt: skip
    if len(rows) > 1:
        ratio = rows[-1][3] / rows[0][3]
        print(f"\npeak RSS at N={rows[-1][0]:,} / at N={rows[0][0]:,}: {ratio:.2f} "
              "(target at most 1.25)")  # fmt: skip


if __name__ == "__main__":
    main()
