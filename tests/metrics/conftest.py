"""Fixtures for metric runs: seeded random weights saved in the standard formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.clip_fixtures import build_tiny_clip
from tests.engine.inception_fixtures import save_weights, write_image_set
from tests.metrics.workers import fid_sets, worker_env, workers  # noqa: F401  (fixtures)


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    """A folder like an offline machine's EVALSITE_WEIGHTS_DIR: FID Inception + a tiny CLIP."""
    folder = tmp_path_factory.mktemp("weights")
    save_weights(folder)
    build_tiny_clip(folder / "tiny-clip")
    return folder


@pytest.fixture
def offline_weights(weights_dir, monkeypatch, settings) -> Path:
    """Offline, with the random-weight files given explicitly (their hash is not the real one)."""
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(weights_dir))
    monkeypatch.setenv("EVALSITE_OFFLINE", "1")
    settings.EVALSITE_INCEPTION_WEIGHTS = str(weights_dir / "pt_inception-2015-12-05-6726825d.pth")
    from metrics.services.extractors import forget_models

    forget_models()
    yield weights_dir
    forget_models()


@pytest.fixture(scope="session")
def image_folders(tmp_path_factory) -> dict[str, Path]:
    """Two small folders of mixed-size images (the engine tests' sets)."""
    root = tmp_path_factory.mktemp("folders")
    write_image_set(root / "a", seed=1, count=10)
    write_image_set(root / "b", seed=2, count=10, tint=(30, -20, 10))
    return {"a": root / "a", "b": root / "b"}
