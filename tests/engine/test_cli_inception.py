"""``python -m metrics`` fid / fid-stats / kid / is / class-kl / fetch-weights."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from metrics.engine.cli import main
from tests.engine import inception_fixtures as fx

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def small_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-sets")
    fx.write_image_set(root / "a", seed=21, count=4)
    fx.write_image_set(root / "b", seed=22, count=4, tint=(20, 0, -20))
    return root / "a", root / "b"


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys, *argv) -> dict:
    code, out, err = _run(capsys, *argv, "--json", "--no-progress")
    assert code == 0, err
    return json.loads(out)


def test_fid_of_two_folders_prints_one_json_object_with_provenance(
    capsys, small_sets, inception_weights
):
    a, b = small_sets
    result = _json(capsys, "fid", a, b, "--force", "--inception-weights", inception_weights)
    assert result["metric"] == "fid" and result["value"] > 0
    assert result["n"] == {"a": 4, "b": 4}
    prov = result["provenance"]
    assert prov["resize"] == "legacy-tf" and prov["precision"] == "fp32"
    assert len(prov["weights_sha256"]) == 64
    assert prov["sets"]["a"]["formats"] == {"png": 4}
    assert set(prov["versions"]) >= {"evalsite", "torch", "numpy"}


def test_fid_of_a_folder_with_itself_is_zero(capsys, small_sets, inception_weights):
    a, _ = small_sets
    result = _json(capsys, "fid", a, a, "--force", "--inception-weights", inception_weights)
    assert result["value"] == pytest.approx(0.0, abs=1e-6)


def test_fid_refuses_small_sets_before_computing_anything(capsys, small_sets, tmp_path):
    a, b = small_sets
    # No weights anywhere: the refusal must come first, from the image counts alone.
    code, out, err = _run(capsys, "fid", a, b, "--inception-weights", tmp_path / "none.pth")
    assert code == 2 and out == ""
    assert "set A has 4 images" in err and "--force" in err
    assert "Traceback" not in err


def test_saved_statistics_are_a_fid_input(capsys, small_sets, inception_weights, tmp_path):
    a, b = small_sets
    stats = tmp_path / "a.npz"
    code, out, err = _run(
        capsys, "fid-stats", a, stats, "--inception-weights", inception_weights, "--no-progress"
    )
    assert code == 0, err and stats.is_file()
    direct = _json(capsys, "fid", a, b, "--force", "--inception-weights", inception_weights)
    via_stats = _json(capsys, "fid", stats, b, "--force", "--inception-weights", inception_weights)
    assert via_stats["value"] == pytest.approx(direct["value"], rel=1e-9)
    assert via_stats["provenance"]["sets"]["a"]["statistics_file"] is True


def test_kid_is_and_class_kl_run_with_their_options(capsys, small_sets, inception_weights):
    a, b = small_sets
    w = ("--inception-weights", inception_weights)
    kid = _json(capsys, "kid", a, b, "--subsets", 3, "--subset-size", 3, "--seed", 5, *w)
    assert kid["metric"] == "kid" and kid["std"] is not None
    assert kid["provenance"]["subset_size"] == 3 and kid["provenance"]["seed"] == 5
    score = _json(capsys, "is", a, "--splits", 2, *w)
    assert score["metric"] == "inception_score" and score["value"] >= 1.0
    assert len(score["extra"]["split_values"]) == 2
    kl = _json(capsys, "class-kl", a, b, *w)
    assert kl["metric"] == "class_kl" and kl["value"] > 0


def test_the_human_line_shows_value_spread_and_counts(capsys, small_sets, inception_weights):
    a, _ = small_sets
    code, out, err = _run(
        capsys, "is", a, "--splits", 2, "--inception-weights", inception_weights, "--no-progress"
    )
    assert code == 0
    assert out.startswith("inception_score: ") and "(std)" in out and "(n=4)" in out


def test_the_progress_bar_goes_to_stderr(capsys, small_sets, inception_weights):
    a, _ = small_sets
    code, out, err = _run(capsys, "is", a, "--splits", 1, "--inception-weights", inception_weights)
    assert code == 0 and "4/4" in err and "4/4" not in out


def test_the_clean_resize_is_recorded_and_changes_the_features(
    capsys, small_sets, inception_weights
):
    a, b = small_sets
    w = ("--inception-weights", inception_weights, "--force")
    legacy = _json(capsys, "fid", a, b, *w)
    clean = _json(capsys, "fid", a, b, *w, "--resize", "clean")
    assert clean["provenance"]["preprocessing"] == "clean-299"
    assert clean["value"] != pytest.approx(legacy["value"], rel=1e-6)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "no such directory"),
        (lambda p: (p / "file.txt").write_text("x") and p / "file.txt", "not a directory"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no images found"),
    ],
)
def test_bad_directories_are_clear_errors(capsys, tmp_path, small_sets, make, message):
    code, out, err = _run(capsys, "is", make(tmp_path))
    assert code == 2 and message in err and err.startswith("error: ")


def test_an_unreadable_image_is_named(capsys, tmp_path, inception_weights):
    folder = tmp_path / "set"
    fx.write_image_set(folder, seed=1, count=2)
    (folder / "zz_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    code, out, err = _run(
        capsys,
        "is",
        folder,
        "--splits",
        1,
        "--inception-weights",
        inception_weights,
        "--workers",
        0,
    )
    assert code == 2 and "zz_broken.png" in err


def test_missing_weights_offline_say_how_to_get_them(capsys, monkeypatch, small_sets):
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    monkeypatch.delenv("EVALSITE_WEIGHTS_DIR", raising=False)
    a, _ = small_sets
    code, out, err = _run(capsys, "is", a, "--splits", 1)
    assert code == 2
    assert "pt_inception-2015-12-05-6726825d.pth" in err and "fetch-weights" in err


def test_fetch_weights_offline_fails_clearly_and_lists_known_files(capsys, monkeypatch):
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    code, out, err = _run(capsys, "fetch-weights")
    assert code == 2 and "offline" in err
    code, out, err = _run(capsys, "fetch-weights", "--list")
    assert code == 0 and "pt_inception-2015-12-05-6726825d.pth" in out


def test_fetch_weights_refuses_unknown_names(capsys):
    code, out, err = _run(capsys, "fetch-weights", "nope.pth")
    assert code == 2 and "unknown weights nope.pth" in err


def test_fetch_weights_downloads_into_the_given_folder(capsys, monkeypatch, tmp_path):
    import hashlib

    from metrics.engine import weights

    payload = b"weights bytes" * 100
    source = tmp_path / "mirror.pth"
    source.write_bytes(payload)
    spec = weights.WeightsSpec(
        "fake-0.pth", (source.as_uri(),), hashlib.sha256(payload).hexdigest()
    )
    monkeypatch.setitem(weights.REGISTRY, spec.name, spec)
    code, out, err = _run(capsys, "fetch-weights", "fake-0.pth", "--dest", tmp_path / "dest")
    assert code == 0, err
    assert (tmp_path / "dest" / "fake-0.pth").read_bytes() == payload
    code, out, err = _run(capsys, "fetch-weights", "fake-0.pth", "--dest", tmp_path / "dest")
    assert "already present" in out


def test_python_dash_m_metrics_exits_non_zero_on_a_bad_directory(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "metrics", "fid", str(tmp_path / "x"), str(tmp_path / "y")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "no such directory" in proc.stderr and "Traceback" not in proc.stderr


def test_reduced_precision_fid_can_report_its_error_against_exact_mode(
    capsys, small_sets, inception_weights
):
    a, b = small_sets
    w = ("--inception-weights", inception_weights, "--force")
    result = _json(capsys, "fid", a, b, *w, "--precision", "bf16", "--check-precision")
    exact = _json(capsys, "fid", a, b, *w)
    assert result["provenance"]["extractor"] == "fid-inception-bf16"
    assert result["extra"]["fp32_value"] == pytest.approx(exact["value"], rel=1e-9)
    assert result["extra"]["precision_error"] == pytest.approx(result["value"] - exact["value"])
    assert any("vs exact fp32" in note for note in result["extra"]["notes"])


def test_fetch_weights_fetches_a_clip_checkpoint_or_says_why_not(capsys, monkeypatch, tmp_path):
    from tests.engine.clip_fixtures import build_tiny_clip

    local = build_tiny_clip(tmp_path / "tiny-clip")
    code, out, err = _run(capsys, "fetch-weights", "--clip-model", str(local))
    assert code == 0, err
    assert f"in {local}" in out and "pt_inception" not in out  # only what was asked for
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    code, out, err = _run(capsys, "fetch-weights", "--clip-model", "someone/clip-model")
    assert code == 2 and "someone/clip-model" in err
