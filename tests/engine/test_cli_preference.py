"""``python -m metrics`` aesthetic, pickscore, hpsv2 and their weights in fetch-weights."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from metrics.engine.cli import main
from tests.engine import clip_fixtures as cf
from tests.engine import preference_fixtures as pf


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    cf.make_test_images(d, count=4)
    return d


@pytest.fixture(scope="module")
def prompts_file(image_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("prompts") / "prompts.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(("file", "prompt"))
        for name, prompt in zip(
            sorted(p.name for p in image_dir.iterdir()), cf.TEST_PROMPTS[:4], strict=True
        ):
            w.writerow((name, prompt))
    return path


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _json(capsys, *argv) -> dict:
    code, out, err = _run(capsys, *argv, "--json", "--no-progress", "--device", "cpu")
    assert code == 0, err
    return json.loads(out)


def test_aesthetic_prints_per_image_scores_and_the_heads_checksum(capsys, image_dir, tmp_path):
    from metrics.engine.weights import file_sha256

    head = pf.save_aesthetic_head(tmp_path / "head")
    clip = pf.build_clip_dir(tmp_path / "clip768", projection_dim=768)
    r = _json(capsys, "aesthetic", image_dir, "--aesthetic-weights", head, "--clip-model", clip)
    assert r["metric"] == "aesthetic" and r["n"] == 4 and len(r["per_item"]) == 4
    assert r["value"] == pytest.approx(np.mean(list(r["per_item"].values())))
    assert r["provenance"]["aesthetic_head_sha256"] == file_sha256(head)


def test_pickscore_and_hpsv2_score_against_the_prompt_file(
    capsys, image_dir, prompts_file, tmp_path
):
    model = cf.build_tiny_clip(tmp_path / "pick")
    processor = pf.build_processor_dir(tmp_path / "proc")
    r = _json(
        capsys, "pickscore", image_dir, "--prompts", prompts_file,
        "--pickscore-model", model, "--pickscore-processor", processor,
    )  # fmt: skip
    assert r["metric"] == "pickscore" and r["n"] == 4
    assert r["provenance"]["pickscore_processor"] == str(processor)
    # The published head counts (16 and 16) need widths that 16 divides.
    state = pf.openclip_state_dict(width=32, text_width=32, image_size=32, patch=8)
    ckpt = pf.save_hps_checkpoint(tmp_path / "hps", state)
    r = _json(
        capsys, "hpsv2", image_dir, "--prompts", prompts_file,
        "--hps-weights", ckpt, "--hps-tokenizer", processor,
    )  # fmt: skip
    assert r["metric"] == "hpsv2" and all(-1 <= v <= 1 for v in r["per_item"].values())


@pytest.mark.parametrize(
    ("command", "name"),
    [
        ("aesthetic", "sac+logos+ava1-l14-linearMSE.pth"),
        ("hpsv2", "HPS_v2.1_compressed.pt"),
        ("imagereward", "ImageReward.pt"),
    ],
)
def test_offline_a_missing_checkpoint_is_one_error_line_naming_it(
    capsys, monkeypatch, tmp_path, image_dir, prompts_file, command, name
):
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(tmp_path))
    extra = ["--prompts", prompts_file] if command != "aesthetic" else []
    code, out, err = _run(capsys, command, image_dir, *extra, "--no-progress")
    assert code == 2 and err.count("\n") == 1
    assert name in err and "fetch-weights" in err


def test_fetch_weights_lists_every_preference_checkpoint(capsys):
    code, out, err = _run(capsys, "fetch-weights", "--list")
    assert code == 0
    for name in (
        "sac+logos+ava1-l14-linearMSE.pth",
        "HPS_v2.1_compressed.pt",
        "yuvalkirstain/PickScore_v1",
        "laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
        "ImageReward.pt",
        "google-bert/bert-base-uncased",
    ):
        assert name in out


def test_fetch_weights_fetches_a_preference_head_by_name(capsys, monkeypatch, tmp_path):
    from metrics.engine import weights
    from metrics.engine.aesthetic import AESTHETIC_HEAD

    source = pf.save_aesthetic_head(tmp_path / "mirror")
    spec = weights.WeightsSpec(
        AESTHETIC_HEAD.name, (source.as_uri(),), "", md5=weights.file_md5(source)
    )
    monkeypatch.setitem(weights.REGISTRY, spec.name, spec)
    code, out, err = _run(capsys, "fetch-weights", spec.name, "--dest", tmp_path / "dest")
    assert code == 0, err
    assert (tmp_path / "dest" / spec.name).read_bytes() == source.read_bytes()


def test_imagereward_scores_against_the_prompt_file(capsys, image_dir, prompts_file, tmp_path):
    from tests.engine import imagereward_fixtures as irf

    vocab = irf.write_bert_vocab(tmp_path / "bert")
    # Head counts of the published model (16 and 12) need widths they divide.
    state = irf.imagereward_state_dict(vocab=irf.vocab_size(vocab), width=32, hidden=24)
    ckpt = irf.save_checkpoint(tmp_path / "ir", state)
    r = _json(
        capsys, "imagereward", image_dir, "--prompts", prompts_file,
        "--imagereward-weights", ckpt, "--imagereward-tokenizer", vocab,
    )  # fmt: skip
    assert r["metric"] == "imagereward" and r["n"] == 4 and len(set(r["per_item"].values())) == 4
    assert r["provenance"]["normalisation"]["std"] == pytest.approx(1.0333394966054072)


def test_a_checkpoint_without_a_published_checksum_is_fetched_and_its_sha256_shown(
    capsys, monkeypatch, tmp_path
):
    from metrics.engine import weights
    from metrics.engine.hpsv2 import HPS_V21

    source = tmp_path / "mirror" / HPS_V21.name
    source.parent.mkdir()
    source.write_bytes(b"stand-in checkpoint bytes")
    monkeypatch.setitem(
        weights.REGISTRY, HPS_V21.name, weights.WeightsSpec(HPS_V21.name, (source.as_uri(),), "")
    )
    code, out, err = _run(capsys, "fetch-weights", HPS_V21.name, "--dest", tmp_path / "dest")
    assert code == 0, err
    assert f"no published checksum; sha256 {weights.file_sha256(source)[:16]}" in out
