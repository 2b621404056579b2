"""Fixtures shared by the engine tests: seeded FID Inception weights, image sets, features.

The weights are built once per session (``inception_fixtures.build_state_dict``)
and saved under the real file name, so every test loads them through the real
loading code (``metrics.engine.weights`` + ``inception.load_fid_inception``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from metrics.engine import weights
from tests.engine import inception_fixtures as fx

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(autouse=True)
def _private_weights_cache(monkeypatch, tmp_path_factory):
    """Downloads and cache lookups of any engine test go to a private folder, never ~/.cache."""
    monkeypatch.setenv("EVALSITE_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "weights-cache"))


@pytest.fixture(scope="session")
def inception_weights_dir(tmp_path_factory) -> Path:
    """A folder holding the seeded weights as ``pt_inception-2015-12-05-6726825d.pth``."""
    directory = tmp_path_factory.mktemp("inception-weights")
    fx.save_weights(directory)
    return directory


@pytest.fixture(scope="session")
def inception_weights(inception_weights_dir) -> Path:
    """Path of the seeded FID Inception weights file."""
    return inception_weights_dir / fx.WEIGHTS_NAME


@pytest.fixture(scope="session")
def inception_spec(inception_weights) -> weights.WeightsSpec:
    """The real FID Inception spec with the seeded file's sha256 (so lookups verify it)."""
    return dataclasses.replace(weights.FID_INCEPTION, sha256=weights.file_sha256(inception_weights))


@pytest.fixture(scope="session")
def inception_extractor(inception_weights):
    """The (folded, fast) InceptionExtractor on the seeded weights, legacy-tf resize."""
    from metrics.engine.extractors import InceptionExtractor

    return InceptionExtractor(inception_weights)


@pytest.fixture(scope="session")
def reference_sets(tmp_path_factory) -> dict[str, list[Path]]:
    """The two seeded PNG sets (mixed sizes) that tests/data/inception_reference.* describe."""
    root = tmp_path_factory.mktemp("reference-sets")
    return {
        "a": fx.write_image_set(root / "a", **fx.SET_A),
        "b": fx.write_image_set(root / "b", **fx.SET_B),
    }


@pytest.fixture(scope="session")
def reference_features(inception_extractor, reference_sets) -> dict[str, dict[str, np.ndarray]]:
    """Our features of the reference sets: {"a": {"pool3": ..., "logits_unbiased": ...}, "b": ...}."""
    return {
        key: inception_extractor.extract_paths(paths, batch_size=6, workers=0)
        for key, paths in reference_sets.items()
    }


@pytest.fixture(scope="session")
def golden() -> dict:
    """torch-fidelity's numbers on the reference sets (tests/engine/make_reference_numbers.py)."""
    return json.loads((DATA / "inception_reference.json").read_text())


@pytest.fixture(scope="session")
def golden_arrays() -> dict[str, np.ndarray]:
    """torch-fidelity's features and the peers' resize samples on the reference sets."""
    with np.load(DATA / "inception_reference.npz") as data:
        return {k: data[k] for k in data.files}
