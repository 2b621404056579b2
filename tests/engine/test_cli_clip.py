"""``python -m metrics`` clip-score, clip-direction, cmmd, vendi, prdc and novelty."""

from __future__ import annotations

import csv
import json
import re
import shutil

import pytest

from metrics.engine.cli import main
from tests.engine import clip_fixtures as cf


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return str(cf.build_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip"))


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("gen")
    cf.make_test_images(d)
    return d


def write_prompts(path, rows, header=("file", "prompt")):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def prompt_rows(image_dir):
    names = sorted(p.name for p in image_dir.iterdir())
    return [(n, p) for n, p in zip(names, cf.TEST_PROMPTS, strict=True)]


def run(capsys, *argv):
    code = main([*argv, "--no-progress", "--device", "cpu"])
    out, err = capsys.readouterr()
    return code, out, err


def test_clip_score_prints_one_json_object_with_per_image_values_and_provenance(
    capsys, tmp_path, ckpt, image_dir
):
    prompts = write_prompts(tmp_path / "p.csv", prompt_rows(image_dir))
    code, out, _ = run(
        capsys,
        "clip-score",
        str(image_dir),
        "--prompts",
        str(prompts),
        "--clip-model",
        ckpt,
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["metric"] == "clip_score" and result["n"] == 6
    assert set(result["per_item"]) == {f"img_{i:02d}.png" for i in range(6)}
    assert len(result["interval"]) == 2
    assert result["provenance"]["clip_model"] == ckpt
    assert len(result["provenance"]["clip_weights_sha256"]) == 64


def test_a_jsonl_prompt_file_gives_the_same_score_as_the_csv(capsys, tmp_path, ckpt, image_dir):
    csv_file = write_prompts(tmp_path / "p.csv", prompt_rows(image_dir))
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps({"file": f, "prompt": p, "seed": 1}) + "\n"
            for f, p in prompt_rows(image_dir)
        )
    )
    _, a, _ = run(
        capsys,
        "clip-score",
        str(image_dir),
        "--prompts",
        str(csv_file),
        "--clip-model",
        ckpt,
        "--json",
    )
    _, b, _ = run(
        capsys,
        "clip-score",
        str(image_dir),
        "--prompts",
        str(jsonl),
        "--clip-model",
        ckpt,
        "--json",
    )
    assert json.loads(a)["value"] == json.loads(b)["value"]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rows: rows[1:], r"1 image\(s\) in .* have no prompt in .*img_00.png"),
        (lambda rows: [*rows, ("ghost.png", "boo")], "name images not in .*ghost.png"),
        (lambda rows: [*rows, rows[0]], "img_00.png is listed twice"),
        (lambda rows: [(rows[0][0], "")] + rows[1:], "line 2: missing or empty 'prompt'"),
    ],
)
def test_prompt_file_mistakes_are_clear_errors_with_exit_code_2(
    capsys, tmp_path, ckpt, image_dir, edit, message
):
    prompts = write_prompts(tmp_path / "p.csv", edit(prompt_rows(image_dir)))
    code, out, err = run(
        capsys, "clip-score", str(image_dir), "--prompts", str(prompts), "--clip-model", ckpt
    )
    assert code == 2 and out == ""
    assert err.startswith("error: ")
    assert re.search(message, err), err


def test_a_csv_without_the_right_header_says_which_columns_it_needs(
    capsys, tmp_path, ckpt, image_dir
):
    prompts = write_prompts(tmp_path / "p.csv", prompt_rows(image_dir), header=("image", "text"))
    code, _, err = run(
        capsys, "clip-score", str(image_dir), "--prompts", str(prompts), "--clip-model", ckpt
    )
    assert code == 2 and "lacks column(s) file, prompt" in err


def test_clip_direction_pairs_edits_with_sources_by_name_or_source_column(
    capsys, tmp_path, ckpt, image_dir
):
    src, edited = tmp_path / "src", tmp_path / "edited"
    src.mkdir(), edited.mkdir()
    shutil.copy(image_dir / "img_00.png", src / "a.png")
    shutil.copy(image_dir / "img_01.png", src / "b.png")
    shutil.copy(image_dir / "img_03.png", edited / "a.png")
    shutil.copy(image_dir / "img_04.png", edited / "x.png")
    captions = write_prompts(
        tmp_path / "c.csv",
        [
            ("a.png", "a photo of the cat", "a photo of the dog", ""),
            ("x.png", "a red dog", "a red cat", "b.png"),
        ],
        header=("file", "source_caption", "caption", "source"),
    )
    code, out, _ = run(
        capsys,
        "clip-direction",
        str(src),
        str(edited),
        "--captions",
        str(captions),
        "--clip-model",
        ckpt,
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["metric"] == "clip_directional_similarity"
    assert set(result["per_item"]) == {"a.png", "x.png"}
    assert all(-1 <= v <= 1 for v in result["per_item"].values())


def test_clip_direction_names_a_missing_source_image(capsys, tmp_path, ckpt, image_dir):
    src, edited = tmp_path / "src", tmp_path / "edited"
    src.mkdir(), edited.mkdir()
    shutil.copy(image_dir / "img_00.png", src / "a.png")
    shutil.copy(image_dir / "img_03.png", edited / "z.png")
    captions = write_prompts(
        tmp_path / "c.csv", [("z.png", "s", "t")], header=("file", "source_caption", "caption")
    )
    code, _, err = run(
        capsys,
        "clip-direction",
        str(src),
        str(edited),
        "--captions",
        str(captions),
        "--clip-model",
        ckpt,
    )
    assert code == 2 and "z.png (for z.png)" in err and "source" in err


def test_cmmd_of_a_folder_with_itself_is_zero(capsys, ckpt, image_dir):
    code, out, _ = run(
        capsys, "cmmd", str(image_dir), str(image_dir), "--clip-model", ckpt, "--json"
    )
    assert code == 0 and json.loads(out)["value"] == pytest.approx(0.0, abs=1e-9)


def test_vendi_prints_a_human_line(capsys, ckpt, image_dir):
    code, out, _ = run(capsys, "vendi", str(image_dir), "--clip-model", ckpt)
    assert code == 0 and out.startswith("vendi: ") and "(n=6)" in out


def test_prdc_prints_four_metrics_in_one_json_object(capsys, ckpt, image_dir):
    code, out, _ = run(
        capsys, "prdc", str(image_dir), str(image_dir), "--k", "3", "--clip-model", ckpt, "--json"
    )
    assert code == 0
    obj = json.loads(out)
    assert obj["k"] == 3 and list(obj["results"]) == ["precision", "recall", "density", "coverage"]
    assert obj["results"]["precision"]["value"] == 1.0


def test_prdc_with_k_as_large_as_a_folder_is_a_clear_error(capsys, ckpt, image_dir):
    code, _, err = run(
        capsys, "prdc", str(image_dir), str(image_dir), "--k", "6", "--clip-model", ckpt
    )
    assert code == 2 and "smaller --k" in err


def test_novelty_of_a_folder_against_itself_flags_every_image_as_memorised(capsys, ckpt, image_dir):
    code, out, err = run(capsys, "novelty", str(image_dir), str(image_dir), "--clip-model", ckpt)
    assert code == 0 and out.startswith("novelty: 1 ")
    assert "100.0% of generated images" in err


def test_a_missing_clip_model_offline_is_one_error_line_naming_the_fetch_command(
    capsys, monkeypatch, image_dir
):
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    code, out, err = run(capsys, "vendi", str(image_dir), "--clip-model", "evalsite-tests/absent")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "fetch-weights --clip-model evalsite-tests/absent" in err


def test_a_missing_folder_is_a_clear_error(capsys, tmp_path, ckpt):
    code, _, err = run(capsys, "vendi", str(tmp_path / "nope"), "--clip-model", ckpt)
    assert code == 2 and "no such directory" in err


def test_vendi_can_use_fid_inception_features(capsys, tmp_path, image_dir):
    from tests.engine import inception_fixtures

    weights = inception_fixtures.save_weights(tmp_path)
    code, out, _ = run(
        capsys,
        "vendi",
        str(image_dir),
        "--embedding",
        "inception",
        "--inception-weights",
        str(weights),
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["provenance"]["embedding"] == "inception"
    assert result["provenance"]["extractor"] == "fid-inception"
    assert 1.0 <= result["value"] <= 6.0
