"""The one rule for "which device": EVALSITE_CUDA_DEVICE, CUDA_VISIBLE_DEVICES, --device."""

from __future__ import annotations

import pytest
import torch

from metrics.engine import device as dev
from metrics.engine.device import DeviceError, resolve_device


@pytest.fixture
def gpus(monkeypatch):
    """Pretend torch sees ``n`` GPUs (after CUDA_VISIBLE_DEVICES)."""

    def set_count(n: int) -> None:
        monkeypatch.setattr(dev.torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(dev.torch.cuda, "device_count", lambda: n)
        monkeypatch.setattr(dev.torch.cuda, "set_device", current.append)

    current: list[int] = []
    set_count.current = current

    monkeypatch.delenv(dev.ENV, raising=False)
    return set_count


def test_auto_is_the_cpu_without_a_gpu_and_the_first_visible_gpu_with_one(gpus):
    gpus(0)
    assert resolve_device("auto") == torch.device("cpu")
    gpus(2)
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device(None) == torch.device("cuda", 0)


def test_evalsite_cuda_device_picks_the_gpu_of_this_worker(gpus, monkeypatch):
    gpus(4)
    for value, index in [("2", 2), ("cuda:3", 3), (" 1 ", 1)]:
        monkeypatch.setenv(dev.ENV, value)
        assert resolve_device("auto") == torch.device("cuda", index)
        assert gpus.current[-1] == index  # made current: no stray context on GPU 0
        assert resolve_device("cuda") == torch.device("cuda", index)  # a bare cuda means ours
    monkeypatch.setenv(dev.ENV, "cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)  # an explicit index wins


def test_an_index_beyond_the_visible_gpus_is_a_clear_error(gpus, monkeypatch):
    gpus(2)
    monkeypatch.setenv(dev.ENV, "5")
    with pytest.raises(DeviceError, match="GPU 5 asked for, but 2 GPU"):
        resolve_device("auto")


def test_a_gpu_asked_for_on_a_machine_without_one_says_what_to_do(gpus, monkeypatch):
    gpus(0)
    with pytest.raises(DeviceError, match="EVALSITE_CUDA_DEVICE=cpu"):
        resolve_device("cuda")
    monkeypatch.setenv(dev.ENV, "0")
    with pytest.raises(DeviceError, match="torch sees none"):
        resolve_device("auto")


def test_nonsense_is_refused_naming_the_choices(gpus, monkeypatch):
    gpus(1)
    with pytest.raises(DeviceError, match="auto, cpu, cuda, cuda:N or N"):
        resolve_device("tpu")
    monkeypatch.setenv(dev.ENV, "gpu0")
    with pytest.raises(DeviceError, match="EVALSITE_CUDA_DEVICE='gpu0'"):
        resolve_device("auto")


def test_the_cli_workers_and_clip_cache_share_the_rule(gpus, monkeypatch):
    from metrics.engine.cli.common import UsageError, pick_device
    from metrics.services.extractors import device_auto

    gpus(0)
    monkeypatch.setenv(dev.ENV, "cpu")
    assert pick_device("auto") == torch.device("cpu") and device_auto() == "cpu"
    with pytest.raises(UsageError, match="torch sees none"):
        pick_device("cuda")


def test_free_memory_never_starts_cuda(monkeypatch):
    started = []
    monkeypatch.setattr(dev.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(dev.torch.cuda, "is_initialized", lambda: False)
    monkeypatch.setattr(dev.torch.cuda, "empty_cache", lambda: started.append(1))
    dev.free_memory()
    assert started == []
    monkeypatch.setattr(dev.torch.cuda, "is_initialized", lambda: True)
    dev.free_memory()
    assert started == [1]
