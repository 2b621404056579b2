"""``python -m metrics ssim|ms-ssim|psnr|lpips|lpips-diversity``: outputs, exit codes, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from metrics.engine.cli import main
from metrics.engine.psnr import psnr
from metrics.engine.ssim import ssim
from tests.engine import lpips_fixtures as fx

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """DIR_A / DIR_B with 3 pairs of 64x64 images (pair 0 identical) and the weights."""
    root = tmp_path_factory.mktemp("pixels-cli")
    arrays = {}
    for k in range(3):
        a = fx.smooth_image(k, 64, 64)
        b = a if k == 0 else fx.distorted(a, k, 15.0 * k)
        for side, img in (("A", a), ("B", b)):
            (root / side).mkdir(exist_ok=True)
            Image.fromarray(img).save(root / side / f"p{k}.png")
        arrays[f"p{k}.png"] = (a, b)
    backbone, linear = fx.write_weights(root / "w", "alex")
    return root, arrays, ["--backbone-weights", str(backbone), "--lpips-weights", str(linear)]


def _json(capsys, argv):
    assert main(argv + ["--json", "--no-progress"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    return json.loads(out[0])


def test_ssim_prints_one_json_object_with_per_pair_values(folders, capsys):
    root, arrays, _ = folders
    data = _json(capsys, ["ssim", str(root / "A"), str(root / "B")])
    assert data["metric"] == "ssim" and data["n"] == 3
    assert data["per_item"]["p0.png"] == 1.0
    assert data["per_item"]["p2.png"] == pytest.approx(ssim(*arrays["p2.png"]), abs=1e-12)
    assert len(data["interval"]) == 2 and data["provenance"]["pairs_matched_by"] == "name"


def test_psnr_reports_infinity_for_identical_pairs_and_includes_the_mse(folders, capsys):
    root, arrays, _ = folders
    data = _json(capsys, ["psnr", str(root / "A"), str(root / "B")])
    assert data["per_item"]["p0.png"] == "inf"
    assert data["extra"]["identical_pairs"] == 1
    finite = [psnr(*arrays[k]) for k in ("p1.png", "p2.png")]
    assert data["value"] == pytest.approx(np.mean(finite), abs=1e-10)
    assert data["extra"]["mse"]["per_item"]["p0.png"] == 0.0


def test_psnr_prints_psnr_and_mse_lines_and_a_note_about_identical_pairs(folders, capsys):
    root, _, _ = folders
    assert main(["psnr", str(root / "A"), str(root / "B"), "--no-progress"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0].startswith("psnr: ") and lines[1].startswith("mse: ")
    assert "1 of 3 pairs are identical" in captured.err


def test_lpips_and_lpips_diversity_run_with_explicit_weight_files(folders, capsys):
    root, arrays, weights = folders
    data = _json(capsys, ["lpips", str(root / "A"), str(root / "B"), *weights])
    assert data["metric"] == "lpips" and data["per_item"]["p0.png"] == 0.0
    assert data["per_item"]["p2.png"] > data["per_item"]["p1.png"] > 0
    div = _json(capsys, ["lpips-diversity", str(root / "B"), *weights, "--max-pairs", "2"])
    assert div["extra"]["pairs"] == 2 and div["n"] == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["ssim", "{A}", "{root}/nope"], "nope: no such directory"),
        (["ms-ssim", "{A}", "{B}"], "at least 161x161"),
        (["lpips", "{A}", "{B}", "--net", "vgg"], "vgg16-397923af.pth"),
    ],
)
def test_user_errors_exit_2_with_one_line_and_no_traceback(
    folders, capsys, monkeypatch, tmp_path, argv, message
):
    root, _, _ = folders
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    monkeypatch.setenv("EVALSITE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("EVALSITE_WEIGHTS_DIR", raising=False)
    argv = [a.format(A=root / "A", B=root / "B", root=root) for a in argv]
    assert main(argv + ["--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err


def test_mismatched_pairs_unreadable_images_and_size_mismatches_exit_2(tmp_path, capsys):
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir()
    b.mkdir()
    img = fx.smooth_image(1, 20, 20)
    for name in ("x.png", "y.png"):
        Image.fromarray(img).save(a / name)
    Image.fromarray(img).save(b / "x.png")
    assert main(["ssim", str(a), str(b), "--no-progress"]) == 2
    assert "without a partner" in capsys.readouterr().err

    Image.fromarray(fx.smooth_image(1, 24, 20)).save(b / "y.png")
    assert main(["psnr", str(a), str(b), "--no-progress"]) == 2
    assert "--resize-to-match" in capsys.readouterr().err
    assert main(["psnr", str(a), str(b), "--no-progress", "--resize-to-match"]) == 0
    capsys.readouterr()

    (b / "y.png").write_bytes(b"broken")
    assert main(["ssim", str(a), str(b), "--no-progress"]) == 2
    assert "y.png" in capsys.readouterr().err


def test_python_dash_m_metrics_runs_ssim_as_a_process(folders):
    root, _, _ = folders
    proc = subprocess.run(
        [sys.executable, "-m", "metrics", "ssim", str(root / "A"), str(root / "B"), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["metric"] == "ssim"
