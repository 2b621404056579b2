"""tests/data/check_goldens.py: the drift checker behind `make check-goldens`."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).parent / "data"
_spec = importlib.util.spec_from_file_location("check_goldens", DATA / "check_goldens.py")
check_goldens = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_goldens)


@pytest.fixture
def copy(tmp_path):
    for name in check_goldens.TOLERANCES:
        shutil.copy(DATA / name, tmp_path / name)
    return tmp_path


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_the_committed_goldens_agree_with_themselves_and_versions_are_not_compared(copy):
    _edit(copy / "report_holm_golden.json", lambda d: d["versions"].update(statsmodels="9.9"))
    drifts, notes = check_goldens.check(copy, DATA)
    assert drifts == []
    assert notes == [
        "report_holm_golden.json: versions {'statsmodels': '0.15.0'} -> {'statsmodels': '9.9'}"
    ]
    assert check_goldens.main([str(copy)]) == 0


def test_a_number_within_its_tolerance_passes_and_beyond_it_is_named_with_its_difference(copy):
    path = copy / "prdc_vendi_golden.json"
    old = json.loads(path.read_text())["vendi"]["many_30x6_score_dual"]
    _edit(path, lambda d: d["vendi"].update(many_30x6_score_dual=old * (1 + 1e-11)))
    assert check_goldens.check(copy, DATA)[0] == []
    _edit(path, lambda d: d["vendi"].update(many_30x6_score_dual=old + 1e-6))
    (drift,) = check_goldens.check(copy, DATA)[0]
    assert drift.startswith("prdc_vendi_golden.json: vendi/many_30x6_score_dual: committed")
    assert "difference 1e-06" in drift
    assert check_goldens.main([str(copy)]) == 1


def test_changed_strings_lengths_missing_keys_and_missing_files_are_drift(copy):
    _edit(copy / "report_krippendorff_golden.json", lambda d: d["cases"].pop("krippendorff_2011"))
    _edit(
        copy / "report_choix_golden.json",
        lambda d: d["cases"]["ring_of_five_sparse"]["outcome"].pop(),
    )
    _edit(copy / "clip_torchmetrics_golden.json", lambda d: d.update(weights_sha256="0"))
    (copy / "report_holm_golden.json").unlink()
    drifts = check_goldens.check(copy, DATA)[0]
    assert len(drifts) == 4
    assert any("krippendorff_2011: only in the committed file" in d for d in drifts)
    assert any(
        "ring_of_five_sparse/outcome: 40 items committed, 39 regenerated" in d for d in drifts
    )
    assert any(d.startswith("clip_torchmetrics_golden.json: weights_sha256:") for d in drifts)
    assert any(d.startswith("report_holm_golden.json: not regenerated") for d in drifts)


def test_arrays_of_the_npz_are_compared_entry_by_entry(copy):
    name = "inception_reference.npz"
    with np.load(DATA / name) as data:
        arrays = dict(data)
    arrays["resize_tf1_samples"] = arrays["resize_tf1_samples"].copy()
    arrays["resize_tf1_samples"][1, 2] += 0.5
    np.savez_compressed(copy / name, **arrays)
    (drift,) = check_goldens.check(copy, DATA)[0]
    assert drift.startswith(f"{name}: resize_tf1_samples[1, 2]: committed")
    assert "1 entries beyond" in drift
