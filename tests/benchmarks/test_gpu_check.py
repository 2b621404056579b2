"""benchmarks/gpu_check.py runs end to end on a CPU (--device cpu --quick) and says what it could not measure."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _figures(path: Path) -> dict[str, object]:
    return {row["name"]: row["value"] for row in json.loads(path.read_text())["figures"]}


def test_the_quick_cpu_mode_measures_the_extractors_and_leaves_gpu_figures_unmeasured(
    tmp_path, capsys
):
    out = tmp_path / "figures.json"
    assert _load().main(["--device", "cpu", "--quick", "--skip-worker", "--json", str(out)]) == 0
    figures = _figures(out)
    for label in ("Inception (legacy-tf)", "Inception (clean)", "CLIP image"):
        for batch in (2, 4):
            assert figures[f"{label} images/s, batch {batch}"] > 0
            assert figures[f"{label} GPU busy fraction, batch {batch}"] == "unmeasured"
    assert figures["FID, CUDA fp32 vs CPU (relative difference)"] == "unmeasured"
    assert "GPU figures are unmeasured" in capsys.readouterr().out


def test_a_gpu_asked_for_without_one_is_a_clear_exit(capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _load().main(["--device", "cuda"]) == 2
    assert "torch sees none" in capsys.readouterr().err


@pytest.mark.worker
def test_the_quick_mode_runs_through_a_real_prefork_worker(tmp_path):
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = _figures(out)
    assert figures["worker (prefork, -Q gpu,cpu) FID run, batch 4"] > 0
    assert figures["worker GPU busy fraction during the run"] == "unmeasured"
