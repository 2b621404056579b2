"""Matching two folders by file name, size checks, loading, pair sampling."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from metrics.engine.images import ImageError
from metrics.engine.pairs import (
    PixelInputError,
    check_sizes,
    linear_to_pair,
    load_pair,
    match_pairs,
    per_pair_values,
    sample_index_pairs,
)


def _img(path, w=16, h=12, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
    return arr


def test_images_pair_by_exact_file_name_keyed_by_the_name_in_dir_a(tmp_path):
    for name in ("b.png", "a.png", "c.jpg"):
        _img(tmp_path / "A" / name)
        _img(tmp_path / "B" / name)
    (tmp_path / "A" / "notes.txt").write_text("not an image")
    pairing = match_pairs(tmp_path / "A", tmp_path / "B")
    assert [p.key for p in pairing.pairs] == ["a.png", "b.png", "c.jpg"]
    assert pairing.pairs[0].path_b == tmp_path / "B" / "a.png"


def test_an_image_without_partner_is_refused_with_its_name_and_the_way_out(tmp_path):
    for name in ("x.png", "y.png", "only_a.png"):
        _img(tmp_path / "A" / name)
    for name in ("x.png", "y.png", "only_b.png"):
        _img(tmp_path / "B" / name)
    with pytest.raises(PixelInputError) as err:
        match_pairs(tmp_path / "A", tmp_path / "B")
    text = str(err.value)
    assert "1 in" in text and "only_a.png" in text and "only_b.png" in text
    assert "--allow-unmatched" in text and "--match stem" in text
    pairing = match_pairs(tmp_path / "A", tmp_path / "B", allow_unmatched=True)
    assert [p.key for p in pairing.pairs] == ["x.png", "y.png"]
    assert pairing.unmatched_a == ["only_a.png"] and pairing.unmatched_b == ["only_b.png"]


def test_a_long_list_of_missing_partners_is_cut_to_a_few_names(tmp_path):
    _img(tmp_path / "B" / "common.png")
    _img(tmp_path / "A" / "common.png")
    for i in range(12):
        _img(tmp_path / "A" / f"extra{i:02d}.png")
    with pytest.raises(PixelInputError, match="12 in .*extra04.png and 7 more"):
        match_pairs(tmp_path / "A", tmp_path / "B")


def test_stem_matching_pairs_across_extensions_and_refuses_ambiguous_stems(tmp_path):
    _img(tmp_path / "A" / "x.png")
    _img(tmp_path / "B" / "x.jpg")
    with pytest.raises(PixelInputError, match="no image in"):
        match_pairs(tmp_path / "A", tmp_path / "B")
    pairing = match_pairs(tmp_path / "A", tmp_path / "B", by="stem")
    assert [(p.key, p.path_b.name) for p in pairing.pairs] == [("x.png", "x.jpg")]
    _img(tmp_path / "B" / "x.webp")
    with pytest.raises(PixelInputError, match="ambiguous"):
        match_pairs(tmp_path / "A", tmp_path / "B", by="stem")


@pytest.mark.parametrize("which", ["missing", "file", "empty"])
def test_a_bad_folder_is_named_in_the_error(tmp_path, which):
    _img(tmp_path / "A" / "x.png")
    target = tmp_path / "B"
    if which == "file":
        target.write_text("x")
    elif which == "empty":
        target.mkdir()
    expected = {"missing": "no such directory", "file": "not a directory", "empty": "no images"}
    with pytest.raises(PixelInputError, match=f"DIR_B {target}: {expected[which]}"):
        match_pairs(tmp_path / "A", target)


def test_pairs_of_different_sizes_are_refused_before_any_work(tmp_path):
    _img(tmp_path / "A" / "x.png", 16, 12)
    _img(tmp_path / "B" / "x.png", 8, 6)
    pairing = match_pairs(tmp_path / "A", tmp_path / "B")
    with pytest.raises(PixelInputError, match=r"x.png \(16x12 vs 8x6\).*--resize-to-match"):
        check_sizes(pairing.pairs)
    with pytest.raises(PixelInputError, match="--resize-to-match"):
        load_pair(pairing.pairs[0])


def test_resize_to_match_resizes_b_to_a_with_pil_bicubic(tmp_path):
    _img(tmp_path / "A" / "x.png", 16, 12, seed=1)
    b = _img(tmp_path / "B" / "x.png", 8, 6, seed=2)
    pair = match_pairs(tmp_path / "A", tmp_path / "B").pairs[0]
    _, got = load_pair(pair, resize_to_match=True)
    expected = np.asarray(Image.fromarray(b).resize((16, 12), Image.Resampling.BICUBIC))
    assert got.shape == (12, 16, 3) and np.array_equal(got, expected)


def test_an_unreadable_image_names_its_file(tmp_path):
    _img(tmp_path / "A" / "x.png")
    (tmp_path / "B").mkdir()
    (tmp_path / "B" / "x.png").write_bytes(b"not a png at all")
    pairing = match_pairs(tmp_path / "A", tmp_path / "B")
    with pytest.raises(ImageError, match="x.png"):
        check_sizes(pairing.pairs)


def test_per_pair_values_keep_pair_order_with_threads(tmp_path):
    for i in range(7):
        _img(tmp_path / "A" / f"{i}.png", seed=i)
        _img(tmp_path / "B" / f"{i}.png", seed=i + 10)
    pairs = match_pairs(tmp_path / "A", tmp_path / "B").pairs
    seen = []
    values = per_pair_values(
        pairs, lambda a, b: float(a.mean() - b.mean()), workers=3, progress=seen.append
    )
    assert list(values) == [p.key for p in pairs] and sum(seen) == 7
    assert values == per_pair_values(pairs, lambda a, b: float(a.mean() - b.mean()), workers=0)


def test_all_index_pairs_are_used_when_few():
    got = sample_index_pairs(5, max_pairs=10)
    assert [tuple(p) for p in got] == [(i, j) for i in range(5) for j in range(i + 1, 5)]


def test_a_sample_of_pairs_is_distinct_ordered_and_seeded():
    got = sample_index_pairs(1000, max_pairs=500, seed=3)
    assert got.shape == (500, 2)
    assert np.all(got[:, 0] < got[:, 1]) and got.max() < 1000
    assert len({tuple(p) for p in got}) == 500
    assert np.array_equal(got, sample_index_pairs(1000, max_pairs=500, seed=3))
    assert not np.array_equal(got, sample_index_pairs(1000, max_pairs=500, seed=4))


def test_linear_indices_map_onto_the_upper_triangle_in_row_order():
    n = 37
    i, j = np.triu_indices(n, 1)
    got = linear_to_pair(np.arange(n * (n - 1) // 2), n)
    assert np.array_equal(got, np.stack([i, j], axis=1))


def test_linear_indices_stay_exact_for_a_million_images():
    # Row starts and ends, where the square root's rounding could land on the wrong row.
    n = 1_000_000
    rows = np.array([0, 1, 2, 500_000, n - 3, n - 2])
    starts = rows * n - rows * (rows + 1) // 2
    k = np.concatenate([starts, starts[1:] - 1])  # firsts of rows, lasts of the rows before
    got = linear_to_pair(k, n)
    expected = np.concatenate(
        [np.stack([rows, rows + 1], axis=1), np.stack([rows[1:] - 1, np.full(5, n - 1)], axis=1)]
    )
    assert np.array_equal(got, expected)


def test_a_single_image_has_no_pairs():
    with pytest.raises(PixelInputError, match="at least 2 images"):
        sample_index_pairs(1, 10)
