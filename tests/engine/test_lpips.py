"""LPIPS: agreement with the lpips package on seeded weights, known answers, weights loading, diversity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from metrics.engine import weights
from metrics.engine.lpips import (
    ALEXNET_WEIGHTS,
    LPIPS_ALEX_WEIGHTS,
    LPIPS_VGG_WEIGHTS,
    VGG16_WEIGHTS,
    LPIPSWeightsError,
    load_lpips,
    lpips_pairs,
)
from metrics.engine.lpips_diversity import lpips_diversity
from metrics.engine.pairs import ImagePair, PixelInputError
from tests.engine import lpips_fixtures as fx

# lpips 0.1.4 (torch 2.14.1, torchvision 0.29.1) given the same seeded weight files, written by
# tests/data/pixels_make_reference.py.
REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "pixels_reference.json").read_text())[
    "lpips"
]


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("lpips-weights")
    return {net: fx.write_weights(root / net, net) for net in ("alex", "vgg")}


@pytest.fixture(scope="module")
def alex(weight_files):
    backbone, linear = weight_files["alex"]
    return load_lpips("alex", backbone_weights=backbone, lpips_weights=linear)


@pytest.fixture(scope="module")
def vgg(weight_files):
    backbone, linear = weight_files["vgg"]
    return load_lpips("vgg", backbone_weights=backbone, lpips_weights=linear)


@pytest.mark.parametrize("case", fx.LPIPS_CASES["alex"], ids=lambda c: c[0])
def test_alexnet_lpips_equals_the_lpips_package(alex, case):
    a, b = fx.case_images(case)
    ref = REFERENCE["alex"][case[0]]
    assert fx.images_digest(a, b) == ref["digest"]
    assert alex.distance(a, b) == pytest.approx(ref["lpips"], rel=1e-4)


@pytest.mark.parametrize("case", fx.LPIPS_CASES["vgg"], ids=lambda c: c[0])
def test_vgg_lpips_equals_the_lpips_package(vgg, case):
    a, b = fx.case_images(case)
    ref = REFERENCE["vgg"][case[0]]
    assert fx.images_digest(a, b) == ref["digest"]
    assert vgg.distance(a, b) == pytest.approx(ref["lpips"], rel=1e-4)


def test_an_image_is_at_distance_zero_from_itself_and_distances_are_symmetric(alex):
    a, b = fx.case_images(fx.LPIPS_CASES["alex"][0])
    assert alex.distance(a, a.copy()) == 0.0
    assert alex.distance(a, b) == pytest.approx(alex.distance(b, a), rel=1e-6)
    assert alex.distance(a, b) > 0.0


def test_the_loaded_model_records_both_weight_files_sha256(alex, weight_files):
    backbone, linear = weight_files["alex"]
    assert alex.weights_sha256 == {
        "backbone": weights.file_sha256(backbone),
        "linear": weights.file_sha256(linear),
    }


def test_the_four_weight_files_are_registered_with_their_real_sources():
    assert weights.REGISTRY["alexnet-owt-7be5be79.pth"] is ALEXNET_WEIGHTS
    assert ALEXNET_WEIGHTS.urls == ("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",)
    assert VGG16_WEIGHTS.sha256 == "397923af"
    assert LPIPS_ALEX_WEIGHTS.urls[0].endswith(
        "PerceptualSimilarity/master/lpips/weights/v0.1/alex.pth"
    )
    assert len(LPIPS_VGG_WEIGHTS.sha256) == 64


def test_weights_found_in_the_weights_dir_are_checked_against_their_checksum(
    weight_files, tmp_path, monkeypatch
):
    # Our seeded files carry the real names but not the real bytes: the manager must notice.
    backbone, linear = weight_files["alex"]
    (tmp_path / backbone.name).write_bytes(backbone.read_bytes())
    (tmp_path / linear.name).write_bytes(linear.read_bytes())
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    with pytest.raises(weights.WeightsChecksumError, match="alexnet-owt-7be5be79.pth"):
        load_lpips("alex")


def test_missing_weights_offline_name_the_file_and_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("EVALSITE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    with pytest.raises(weights.WeightsMissingError) as err:
        load_lpips("vgg")
    assert "vgg16-397923af.pth" in str(err.value) and "fetch-weights" in str(err.value)


def test_a_full_torchvision_file_loads_with_its_classifier_keys_ignored(weight_files, tmp_path):
    backbone, linear = weight_files["alex"]
    state = torch.load(backbone, weights_only=True)
    state["classifier.1.weight"] = torch.zeros(3, 3)  # stands in for the real 4096x9216
    full = tmp_path / "alexnet-full.pth"
    torch.save(state, full)
    model = load_lpips("alex", backbone_weights=full, lpips_weights=linear)
    a, b = fx.case_images(fx.LPIPS_CASES["alex"][0])
    assert model.distance(a, b) == pytest.approx(REFERENCE["alex"]["a64"]["lpips"], rel=1e-4)


def test_swapped_or_mismatched_weight_files_are_refused_clearly(weight_files):
    alex_backbone, alex_linear = weight_files["alex"]
    _, vgg_linear = weight_files["vgg"]
    with pytest.raises(LPIPSWeightsError, match="not a torchvision alex backbone"):
        load_lpips("alex", backbone_weights=alex_linear, lpips_weights=alex_linear)
    with pytest.raises(LPIPSWeightsError, match="not for the alex backbone"):
        load_lpips("alex", backbone_weights=alex_backbone, lpips_weights=vgg_linear)


def test_a_file_that_is_not_torch_weights_is_refused(weight_files, tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"hello")
    with pytest.raises(LPIPSWeightsError, match="not a torch weights file"):
        load_lpips("alex", backbone_weights=junk, lpips_weights=weight_files["alex"][1])


def test_images_too_small_for_the_backbone_are_refused(alex):
    tiny = np.zeros((30, 64, 3), np.uint8)
    with pytest.raises(PixelInputError, match="at least 31x31 pixels; got 64x30"):
        alex.distance(tiny, tiny)


def _save_pairs(tmp_path, cases):
    pairs = []
    for case in cases:
        a, b = fx.case_images(case)
        pa, pb = tmp_path / "a" / f"{case[0]}.png", tmp_path / "b" / f"{case[0]}.png"
        pa.parent.mkdir(exist_ok=True)
        pb.parent.mkdir(exist_ok=True)
        Image.fromarray(a).save(pa)
        Image.fromarray(b).save(pb)
        pairs.append(ImagePair(pa.name, pa, pb))
    return pairs


def test_lpips_pairs_batches_mixed_sizes_and_keeps_each_pairs_value(alex, tmp_path):
    cases = fx.LPIPS_CASES["alex"]
    result = lpips_pairs(_save_pairs(tmp_path, cases), alex, batch_size=2)
    expected = {f"{c[0]}.png": REFERENCE["alex"][c[0]]["lpips"] for c in cases}
    assert result.per_item == pytest.approx(expected, rel=1e-4)
    assert result.value == pytest.approx(np.mean(list(expected.values())), rel=1e-4)
    assert result.metric == "lpips" and not result.higher_is_better
    assert result.provenance["net"] == "alex" and result.interval is not None


def _diversity_set(tmp_path):
    paths = []
    for k in range(4):
        p = tmp_path / f"img{k}.png"
        Image.fromarray(fx.smooth_image(30 + k, 48, 48)).save(p)
        paths.append(p)
    return paths


def test_diversity_is_the_mean_lpips_over_all_pairs(alex, tmp_path):
    result = lpips_diversity(_diversity_set(tmp_path), alex)
    ref = REFERENCE["alex"]["diversity_4x48"]
    assert result.value == pytest.approx(ref["mean_pairwise"], rel=1e-4)
    assert list(result.per_item.values()) == pytest.approx(ref["pairs"], rel=1e-4)
    assert "img0.png|img1.png" in result.per_item
    assert result.extra == {"images": 4, "pairs": 6, "all_pairs": 6}


def test_diversity_gives_the_same_pairs_when_features_must_be_recomputed_in_chunks(alex, tmp_path):
    paths = _diversity_set(tmp_path)
    whole = lpips_diversity(paths, alex)
    chunked = lpips_diversity(paths, alex, cache_bytes=1)  # room for 2 images at a time
    assert chunked.per_item == pytest.approx(whole.per_item, rel=1e-6)


def test_diversity_of_a_big_set_uses_a_seeded_sample_of_pairs(alex, tmp_path):
    paths = _diversity_set(tmp_path)
    result = lpips_diversity(paths, alex, max_pairs=3, seed=5)
    assert result.extra["pairs"] == 3 and "sample of 3 of the 6" in result.extra["notes"][0]
    assert result.per_item == lpips_diversity(paths, alex, max_pairs=3, seed=5).per_item


def test_diversity_refuses_mixed_sizes_unless_asked_to_resize(alex, tmp_path):
    paths = _diversity_set(tmp_path)
    Image.fromarray(fx.smooth_image(1, 40, 50)).save(paths[0])
    with pytest.raises(PixelInputError, match=r"48x48 \(3 images\).*--size N"):
        lpips_diversity(paths, alex)
    result = lpips_diversity(paths, alex, size=40)
    assert result.provenance["resize"] == "40x40 PIL bicubic" and result.extra["pairs"] == 6


def test_many_pairs_per_forward_pass_give_each_pairs_own_distance(alex):
    from metrics.engine.lpips import lpips_distances

    rng = np.random.default_rng(7)
    sizes = [(40, 40), (40, 40), (40, 40), (48, 36), (48, 36), (40, 40)]
    pairs = [
        (
            rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
            rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        )
        for h, w in sizes
    ]
    one_by_one = [alex.distance(a, b) for a, b in pairs]
    calls = []
    forward = alex.forward
    alex.forward = lambda a, b: calls.append(len(a)) or forward(a, b)
    try:
        batched = lpips_distances(alex, pairs, batch_size=2)
    finally:
        del alex.forward
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-5)
    assert calls == [2, 1, 2, 1]  # same-size runs, at most batch_size pairs per pass
    with pytest.raises(PixelInputError, match="same size"):
        lpips_distances(alex, [(pairs[0][0], pairs[3][1])])
