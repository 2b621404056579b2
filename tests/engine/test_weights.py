"""Weights resolution: explicit path, EVALSITE_WEIGHTS_DIR, cache, verified atomic downloads."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from pathlib import Path

import pytest

from metrics.engine import weights
from metrics.engine.weights import (
    WeightsChecksumError,
    WeightsMissingError,
    WeightsSpec,
    file_sha256,
    weights_path,
)

PAYLOAD = b"not really a network, but bytes with a known sha256" * 1000


def _spec(payload: bytes = PAYLOAD, *, urls=("https://example.invalid/w.pth",), prefix=None):
    digest = hashlib.sha256(payload).hexdigest()
    return WeightsSpec(
        name="w-test-0000.pth",
        urls=tuple(urls),
        sha256=digest[:prefix] if prefix else digest,
        description="test weights",
    )


@pytest.fixture
def env(monkeypatch, tmp_path):
    """No weights dir, a private cache, online."""
    monkeypatch.delenv("EVALSITE_WEIGHTS_DIR", raising=False)
    monkeypatch.delenv("EVALSITE_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("EVALSITE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_an_explicit_path_is_used_as_given(env, inception_weights):
    assert weights_path(weights.FID_INCEPTION, inception_weights) == inception_weights


def test_a_missing_explicit_path_is_an_error_naming_it(env):
    with pytest.raises(WeightsMissingError, match="nowhere.pth does not exist"):
        weights_path(weights.FID_INCEPTION, env / "nowhere.pth")


def test_the_weights_dir_is_searched_and_its_file_verified(
    env, monkeypatch, inception_spec, inception_weights_dir
):
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(inception_weights_dir))
    found = weights_path(inception_spec, download=False)
    assert found == inception_weights_dir / weights.FID_INCEPTION.name


def test_a_file_with_the_wrong_checksum_in_the_weights_dir_is_refused(
    env, monkeypatch, inception_weights_dir
):
    # The seeded stand-in carries the real file name but not the real file's sha256.
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(inception_weights_dir))
    with pytest.raises(WeightsChecksumError, match="must start with 6726825d"):
        weights_path(weights.FID_INCEPTION, download=False)


def test_the_cache_dir_is_searched_after_the_weights_dir(env):
    spec = _spec()
    cache = env / "cache"
    cache.mkdir()
    (cache / spec.name).write_bytes(PAYLOAD)
    assert weights_path(spec, download=False) == cache / spec.name


def test_the_torch_hub_checkpoints_dir_is_the_default_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("EVALSITE_CACHE_DIR", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert weights.cache_dir() == tmp_path / "th" / "hub" / "checkpoints"


@pytest.mark.parametrize("variable", ["EVALSITE_OFFLINE", "HF_HUB_OFFLINE"])
def test_missing_weights_offline_name_the_file_the_places_and_the_command(
    env, monkeypatch, variable
):
    monkeypatch.setenv(variable, "1")
    monkeypatch.setenv("EVALSITE_WEIGHTS_DIR", str(env / "wdir"))
    with pytest.raises(WeightsMissingError) as info:
        weights_path(weights.FID_INCEPTION)
    message = str(info.value)
    assert "pt_inception-2015-12-05-6726825d.pth" in message
    assert str(env / "wdir" / "pt_inception-2015-12-05-6726825d.pth") in message
    assert "python -m metrics fetch-weights" in message


def test_a_download_through_a_file_url_lands_verified_in_the_cache(env):
    source = env / "mirror" / "w.pth"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    spec = _spec(urls=(source.as_uri(),))
    path = weights_path(spec)
    assert path == env / "cache" / spec.name
    assert path.read_bytes() == PAYLOAD
    assert file_sha256(path) == hashlib.sha256(PAYLOAD).hexdigest()


def test_a_known_sha256_prefix_is_enough_to_verify(env):
    source = env / "w.pth"
    source.write_bytes(PAYLOAD)
    spec = _spec(urls=(source.as_uri(),), prefix=8)
    assert weights_path(spec).read_bytes() == PAYLOAD


def test_a_download_with_the_wrong_checksum_leaves_nothing_behind(env):
    def opener(url):
        return io.BytesIO(b"tampered" + PAYLOAD)

    with pytest.raises(WeightsChecksumError, match="was not kept"):
        weights_path(_spec(), opener=opener)
    assert list((env / "cache").iterdir()) == []


def test_a_download_cut_off_midway_leaves_no_partial_file(env):
    class Broken:
        def __init__(self):
            self.calls = 0

        def read(self, n):
            self.calls += 1
            if self.calls > 1:
                raise ConnectionResetError("connection reset by peer")
            return PAYLOAD[:1000]

    with pytest.raises(WeightsMissingError, match="connection reset"):
        weights_path(_spec(), opener=lambda url: Broken())
    assert list((env / "cache").iterdir()) == []


def test_a_failing_mirror_falls_back_to_the_next_url(env):
    good = env / "good.pth"
    good.write_bytes(PAYLOAD)
    spec = _spec(urls=("https://mirror.invalid/w.pth", good.as_uri()))

    def opener(url):
        if url.startswith("https:"):
            raise OSError("no route to host")
        return open(Path(url.removeprefix("file://")), "rb")

    assert weights_path(spec, opener=opener).read_bytes() == PAYLOAD


def test_downloading_can_be_refused_by_the_caller(env):
    with pytest.raises(WeightsMissingError, match="downloading was not allowed"):
        weights_path(_spec(), download=False)


def test_file_sha256_notices_a_changed_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"one")
    first = file_sha256(path)
    path.write_bytes(b"two, longer")
    assert file_sha256(path) != first == hashlib.sha256(b"one").hexdigest()


def test_registering_a_different_spec_under_a_known_name_is_an_error():
    clash = dataclasses.replace(weights.FID_INCEPTION, sha256="00000000")
    with pytest.raises(ValueError, match="registered twice"):
        weights.register(clash)
    assert weights.register(weights.FID_INCEPTION) is weights.FID_INCEPTION


def test_install_local_copies_a_verified_file_into_the_cache(env):
    source = env / "w.pth"
    source.write_bytes(PAYLOAD)
    spec = _spec()
    target = weights.install_local(spec, source)
    assert target == env / "cache" / spec.name and target.read_bytes() == PAYLOAD
