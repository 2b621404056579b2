"""The FID Inception network: key layout, loading, folding, and features equal to torch-fidelity's."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from metrics.engine.extractors import FeatureExtractor, InceptionExtractor
from metrics.engine.inception import FIDInceptionV3, load_fid_inception
from metrics.engine.inception_folded import fold
from metrics.engine.resize import resize_image
from metrics.engine.weights import WeightsChecksumError
from tests.engine import inception_fixtures as fx

# sha256 of the sorted "key:[shape]" lines of torchvision 0.29.1's
# inception_v3(aux_logits=True, num_classes=1008).state_dict() without AuxLogits.* (566 keys),
# computed once in the peers venv.
TORCHVISION_KEYS_DIGEST = "cd36bcf4883935e5bc430934132957704fa70f7dfec1eeb2fcfc3288bc5075c9"


def _keys_digest(state) -> str:
    lines = "\n".join(f"{k}:{list(v.shape)}" for k, v in sorted(state.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def _relative_error(ours: np.ndarray, ref: np.ndarray) -> float:
    """Largest per-image relative L2 error."""
    return float((np.linalg.norm(ours - ref, axis=1) / np.linalg.norm(ref, axis=1)).max())


def test_state_dict_keys_and_shapes_are_torchvisions_without_aux_logits():
    state = FIDInceptionV3().state_dict()
    assert len(state) == 566
    assert _keys_digest(state) == TORCHVISION_KEYS_DIGEST
    assert state["fc.weight"].shape == (1008, 2048)
    assert FIDInceptionV3().Conv2d_1a_3x3.bn.eps == 1e-3


def test_the_seeded_weights_are_the_ones_the_golden_numbers_were_computed_with(
    inception_weights, golden
):
    state = torch.load(inception_weights, weights_only=True)
    assert fx.state_dict_digest(state) == golden["weights_digest"]


def test_a_file_with_aux_logits_and_without_step_counters_loads(inception_weights, tmp_path):
    state = torch.load(inception_weights, weights_only=True)
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    state["AuxLogits.fc.weight"] = torch.zeros(1008, 768)
    path = tmp_path / "torchvision-style.pth"
    torch.save(state, path)
    model = load_fid_inception(path)
    assert torch.equal(model.fc.weight, state["fc.weight"])


def test_a_file_of_another_network_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 11, 11)}, path)
    with pytest.raises(ValueError, match="not FID Inception weights .* missing keys"):
        load_fid_inception(path)


def test_a_tensor_of_the_wrong_shape_is_refused(inception_weights, tmp_path):
    state = torch.load(inception_weights, weights_only=True)
    state["fc.weight"] = torch.zeros(1000, 2048)
    path = tmp_path / "imagenet-head.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"fc.weight has shape \(1000, 2048\)"):
        load_fid_inception(path)


def test_garbage_is_not_a_weights_file(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="not a readable torch weights file"):
        load_fid_inception(path)


@pytest.fixture(scope="module")
def sample_batch() -> torch.Tensor:
    imgs = fx.image_set_arrays(seed=11, count=4)
    return torch.stack([resize_image(a) for a in imgs])


def test_the_folded_network_equals_the_plain_one(inception_weights, sample_batch):
    plain = load_fid_inception(inception_weights)
    folded = fold(plain)
    with torch.inference_mode():
        p_pool, p_logits = plain(sample_batch)
        f_pool, f_logits = folded(sample_batch.contiguous(memory_format=torch.channels_last))
    # Folding and merging reorder float32 sums; 94 layers of random weights amplify that to ~2e-5.
    assert _relative_error(f_pool.numpy(), p_pool.numpy()) < 1e-4
    assert _relative_error(f_logits.numpy(), p_logits.numpy()) < 1e-4


def test_logits_are_pool3_times_the_fc_weight_without_bias(inception_weights, sample_batch):
    plain = load_fid_inception(inception_weights)
    with torch.inference_mode():
        pool3, logits = plain(sample_batch)
    assert torch.allclose(logits, pool3 @ plain.fc.weight.T)
    assert not torch.allclose(logits, plain.fc(pool3), atol=1e-3)


def test_the_extractor_follows_the_protocol(inception_extractor, inception_weights):
    assert isinstance(inception_extractor, FeatureExtractor)
    assert inception_extractor.extractor_id == "fid-inception"
    assert inception_extractor.preprocessing == "legacy-tf-299"
    assert inception_extractor.outputs == {"pool3": 2048, "logits_unbiased": 1008}
    assert (
        inception_extractor.weights_sha256
        == hashlib.sha256(inception_weights.read_bytes()).hexdigest()
    )


@pytest.mark.parametrize("key", ["a", "b"])
def test_features_equal_torch_fidelitys_on_the_same_weights(
    key, reference_features, golden_arrays, reference_sets, golden
):
    """Golden: torch-fidelity 0.4.0's FeatureExtractorInceptionV3 on the same file and PNGs."""
    images = fx.image_set_arrays(**fx.SET_A if key == "a" else fx.SET_B)
    assert fx.images_digest(images) == golden[f"set_{key}"]["digest"]
    ours = reference_features[key]
    for name, ref_key in (("pool3", f"pool3_{key}"), ("logits_unbiased", f"logits_{key}")):
        assert ours[name].dtype == np.float32
        assert ours[name].shape == golden_arrays[ref_key].shape
        assert _relative_error(ours[name], golden_arrays[ref_key]) < 1e-4


def test_extract_images_equals_extract_paths(
    inception_extractor, reference_sets, reference_features
):
    arrays = fx.image_set_arrays(**fx.SET_A)[:5]
    feats = inception_extractor.extract_images(arrays, batch_size=2)
    assert _relative_error(feats["pool3"], reference_features["a"]["pool3"][:5]) < 1e-4


def test_the_real_spec_refuses_the_seeded_file_found_by_name(monkeypatch, inception_weights_dir):
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(inception_weights_dir))
    with pytest.raises(WeightsChecksumError):
        InceptionExtractor()


def test_bf16_features_are_close_but_carry_their_own_extractor_id(inception_weights, sample_batch):
    exact = InceptionExtractor(inception_weights)
    approx = InceptionExtractor(inception_weights, precision="bf16")
    assert approx.extractor_id == "fid-inception-bf16" != exact.extractor_id
    a = approx.forward(sample_batch[:1])["pool3"]
    e = exact.forward(sample_batch[:1])["pool3"]
    # bfloat16 keeps 8 significant bits; random weights amplify that through 94 layers.
    assert 0 < _relative_error(a, e) < 0.2


def test_fp16_on_a_cpu_is_refused_with_the_alternative(inception_weights):
    with pytest.raises(ValueError, match="bf16"):
        InceptionExtractor(inception_weights, precision="fp16")
