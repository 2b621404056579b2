"""Compare regenerated golden files with the committed ones; exit 1 on drift (`make check-goldens`).

    .venv/bin/python tests/data/check_goldens.py NEW_DIR [--committed tests/data]

Every number must agree within its file's tolerance, ``|new - old| <= atol + rtol * |old|``,
the tightest one the tests apply to those numbers (a golden that moved by more would change what
the tests accept). Strings (digests, names) and list lengths must be equal. ``how`` and
``versions`` are not compared: a different library version is reported, not failed, since the
point of the check is whether the numbers moved. Each drift is printed as file, key and difference.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# file -> [(key regex, rtol, atol)], first match wins; keys are "/"-joined paths.
TOLERANCES: dict[str, list[tuple[str, float, float]]] = {
    "clip_torchmetrics_golden.json": [(r"directional", 0, 1e-5), (r".*", 0, 1e-4)],
    "inception_reference.json": [(r"resize_.*_sums", 1e-9, 0), (r".*", 1e-4, 0)],
    # Elementwise, as the resize samples are tested; the tests bound pool3/logits by a per-image
    # relative L2 error of 1e-4 instead (tests/engine/test_inception.py).
    "inception_reference.npz": [(r".*", 0, 1e-4)],
    "pixels_reference.json": [
        (r"^lpips/", 1e-4, 0),
        (r"ms_ssim_torchmetrics", 0, 2e-4),
        (r"ms_ssim", 0, 1e-6),
        (r"/mse$", 1e-12, 0),
        (r".*", 0, 1e-10),
    ],
    "report_krippendorff_golden.json": [(r".*", 0, 1e-12)],
    "report_choix_golden.json": [(r".*", 0, 1e-6)],
    "report_holm_golden.json": [(r".*", 1e-12, 0)],
    "prdc_vendi_golden.json": [(r"^prdc/", 0, 1e-12), (r".*", 1e-10, 0)],
}
NOT_COMPARED = ("how", "versions")


def tolerance(name: str, key: str) -> tuple[float, float]:
    for pattern, rtol, atol in TOLERANCES[name]:
        if re.search(pattern, key):
            return rtol, atol
    raise KeyError(f"{name}: no tolerance for {key}")


def compare(name: str, key: str, old, new, drifts: list[str]) -> None:
    """Walk both values together, appending one line per disagreement."""
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            path = f"{key}/{k}" if key else str(k)
            if not key and k in NOT_COMPARED:
                continue
            if k not in new or k not in old:
                drifts.append(
                    f"{name}: {path}: only in the {'committed' if k in old else 'new'} file"
                )
            else:
                compare(name, path, old[k], new[k], drifts)
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            drifts.append(f"{name}: {key}: {len(old)} items committed, {len(new)} regenerated")
            return
        for i, (o, n) in enumerate(zip(old, new, strict=True)):
            compare(name, f"{key}/{i}", o, n, drifts)
    elif _is_number(old) and _is_number(new):
        rtol, atol = tolerance(name, key)
        if math.isnan(old) or math.isnan(new):
            if not (math.isnan(old) and math.isnan(new)):
                drifts.append(f"{name}: {key}: committed {old!r}, regenerated {new!r}")
            return
        diff = abs(new - old)
        if diff > atol + rtol * abs(old):
            drifts.append(
                f"{name}: {key}: committed {old!r}, regenerated {new!r}, "
                f"difference {diff:.3g} > atol {atol:g} + rtol {rtol:g} x |committed|"
            )
    elif old != new:
        drifts.append(f"{name}: {key}: committed {old!r}, regenerated {new!r}")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def compare_npz(name: str, old_path: Path, new_path: Path, drifts: list[str]) -> None:
    with np.load(old_path) as old, np.load(new_path) as new:
        for k in sorted(set(old.files) | set(new.files)):
            if k not in old.files or k not in new.files:
                drifts.append(
                    f"{name}: {k}: only in the {'committed' if k in old.files else 'new'} file"
                )
                continue
            a, b = old[k].astype(np.float64), new[k].astype(np.float64)
            if a.shape != b.shape:
                drifts.append(f"{name}: {k}: shape {a.shape} committed, {b.shape} regenerated")
                continue
            rtol, atol = tolerance(name, k)
            excess = np.abs(b - a) - (atol + rtol * np.abs(a))
            if excess.size and excess.max() > 0:
                i = tuple(int(j) for j in np.unravel_index(int(np.argmax(excess)), a.shape))
                drifts.append(
                    f"{name}: {k}{list(i)}: committed {float(a[i])!r}, regenerated {float(b[i])!r}, "
                    f"difference {abs(b[i] - a[i]):.3g} ({int((excess > 0).sum())} entries beyond "
                    f"atol {atol:g} + rtol {rtol:g} x |committed|)"
                )


def check(new_dir: Path, committed: Path) -> tuple[list[str], list[str]]:
    """Return (drifts, notes) for every golden file named in TOLERANCES."""
    drifts: list[str] = []
    notes: list[str] = []
    for name in TOLERANCES:
        old_path, new_path = committed / name, new_dir / name
        if not new_path.exists():
            drifts.append(f"{name}: not regenerated (no {new_path})")
            continue
        if name.endswith(".npz"):
            compare_npz(name, old_path, new_path, drifts)
            continue
        old, new = json.loads(old_path.read_text()), json.loads(new_path.read_text())
        if old.get("versions") != new.get("versions"):
            notes.append(f"{name}: versions {old.get('versions')} -> {new.get('versions')}")
        compare(name, "", old, new, drifts)
    return drifts, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("new_dir", type=Path, help="folder the golden scripts wrote into")
    parser.add_argument(
        "--committed", type=Path, default=HERE, help="folder of the committed goldens"
    )
    args = parser.parse_args(argv)
    drifts, notes = check(args.new_dir, args.committed)
    for line in notes:
        print(f"note: {line}")
    for line in drifts:
        print(f"DRIFT: {line}")
    checked = len(TOLERANCES)
    print(f"{checked} golden files checked, {len(drifts)} drift(s)")
    return 1 if drifts else 0


if __name__ == "__main__":
    sys.exit(main())
