"""The worker's models: one device rule, caches freed for real, LPIPS many pairs per pass."""

from __future__ import annotations

import numpy as np
import pytest


def test_forget_models_also_drops_the_engines_clip_cache_and_frees_memory(
    offline_weights, monkeypatch
):
    from metrics.engine import clip, device
    from metrics.services import extractors

    freed = []
    monkeypatch.setattr(device, "free_memory", lambda: freed.append(True))
    extractor = extractors.clip_extractor({"clip_model": str(offline_weights / "tiny-clip")})
    assert clip._CACHE and extractors._MODELS
    extractors.forget_models()
    assert clip._CACHE == {} and extractors._MODELS == {} and freed == [True]
    again = extractors.clip_extractor({"clip_model": str(offline_weights / "tiny-clip")})
    assert again is not extractor and again.bundle is not extractor.bundle


def test_forget_models_drops_the_preference_scorers_too(monkeypatch):
    from metrics.engine import device, hpsv2, imagereward, pickscore
    from metrics.services import extractors

    monkeypatch.setattr(device, "free_memory", lambda: None)
    for module in (pickscore, hpsv2, imagereward):
        monkeypatch.setitem(module._CACHE, ("a", "model"), object())
    extractors.forget_models()
    assert pickscore._CACHE == hpsv2._CACHE == imagereward._CACHE == {}


def test_workers_load_models_on_the_device_the_engine_picks(offline_weights, monkeypatch):
    from metrics.services import extractors

    monkeypatch.setenv("EVALSITE_CUDA_DEVICE", "cpu")
    extractor = extractors.inception_extractor({"resize": "legacy-tf"})
    assert str(extractor.device) == "cpu"


def _pairs(n, size=(40, 40), seed=0):
    rng = np.random.default_rng(seed)
    return [
        tuple(rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(2)) for _ in range(n)
    ]


def test_lpips_in_runs_takes_many_pairs_per_forward_pass(monkeypatch, settings, tmp_path):
    from metrics.engine.lpips import load_lpips
    from metrics.services import extractors
    from metrics.services.recipes import recipe_get, recipe_pair_values
    from tests.engine import lpips_fixtures

    backbone, linear = lpips_fixtures.write_weights(tmp_path, "alex")
    model = load_lpips("alex", backbone_weights=backbone, lpips_weights=linear)
    passes = []
    forward = model.forward
    model.forward = lambda a, b: passes.append(len(a)) or forward(a, b)
    monkeypatch.setattr(extractors, "lpips_model", lambda net: model)
    settings.EVALSITE_BATCH_SIZE = 4
    pairs = _pairs(6)
    values = recipe_pair_values(recipe_get("lpips"), pairs, {"net": "alex"})
    assert passes == [4, 2]
    expected = [recipe_get("lpips").pair_value(a, b, {"net": "alex"}) for a, b in pairs]
    np.testing.assert_allclose(values, expected, rtol=1e-5)


def test_pixel_metrics_keep_their_per_pair_function():
    from metrics.engine.ssim import ssim
    from metrics.services.recipes import recipe_get, recipe_pair_values

    pairs = _pairs(2, size=(16, 16), seed=3)
    assert recipe_pair_values(recipe_get("ssim"), pairs, {}) == [ssim(a, b) for a, b in pairs]
    with pytest.raises(ValueError, match="not a pair metric"):
        recipe_pair_values(recipe_get("fid"), pairs, {})
