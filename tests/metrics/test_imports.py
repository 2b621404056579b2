"""The import service: all or nothing, idempotent, every bad input refused with a clear reason."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from metrics.engine import images as images_module
from metrics.engine.images import decode_rgb
from metrics.models import Image, ImageSet, ModelUnderTest, Prompt
from metrics.services.blobs import blobs_collect
from metrics.services.imports import ImportFailed, image_set_import
from metrics.storage import blob_path
from tests.conftest import png_bytes, write_images

pytestmark = pytest.mark.django_db


def media_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def assert_nothing_imported(settings):
    assert Image.objects.count() == 0
    assert ImageSet.objects.count() == 0
    assert ModelUnderTest.objects.count() == 0
    assert Prompt.objects.count() == 0
    assert media_files(settings) == []


def import_fails(path, **kwargs) -> str:
    kwargs.setdefault("set_name", "s")
    kwargs.setdefault("kind", "reference")
    with pytest.raises(ImportFailed) as info:
        image_set_import(path=path, **kwargs)
    return str(info.value)


# --- the happy path -------------------------------------------------------------------------


def test_a_folder_with_a_manifest_imports_images_prompts_and_metadata(make_folder, settings):
    folder, names = make_folder(
        2,
        rows=[
            {"file": "img000.png", "prompt": "a red cat", "seed": "7", "cfg": "7.5"},
            {"file": "img001.png", "prompt": "a blue dog", "seed": "", "cfg": "3"},
        ],
    )
    result = image_set_import(path=folder, set_name="gen", model_name="m", model_version="1")

    assert (result.created, result.unchanged) == (2, 0)
    image_set = ImageSet.objects.get(name="gen")
    assert image_set.kind == "generated" and str(image_set.model) == "m 1"
    first = image_set.images.get(filename="img000.png")
    assert first.prompt.text == "a red cat"
    assert first.seed == 7
    assert first.metadata == {"cfg": "7.5"}
    assert (first.width, first.height, first.format) == (32, 24, "PNG")
    # Stored byte for byte under the sha256 of the file.
    assert blob_path(first.blob).read_bytes() == (folder / "img000.png").read_bytes()
    assert first.sha256 in first.blob


def test_importing_the_same_files_again_changes_nothing(make_folder, settings):
    folder, _ = make_folder(3, rows=[{"file": f"img{i:03d}.png", "prompt": "p"} for i in range(3)])
    image_set_import(path=folder, set_name="ref", kind="reference")
    before = sorted(p.stat().st_mtime_ns for p in media_files(settings))

    again = image_set_import(path=folder, set_name="ref", kind="reference")

    assert (again.created, again.unchanged) == (0, 3)
    assert Image.objects.count() == 3 and Prompt.objects.count() == 1
    assert sorted(p.stat().st_mtime_ns for p in media_files(settings)) == before


def test_a_second_import_adds_only_the_new_files(make_folder):
    folder, _ = make_folder(2)
    image_set_import(path=folder, set_name="ref", kind="reference")
    write_images(folder, 1, start_seed=100, prefix="new")

    result = image_set_import(path=folder, set_name="ref", kind="reference")

    assert (result.created, result.unchanged) == (1, 2)


def test_identical_bytes_in_two_sets_are_stored_once(make_folder, settings):
    folder, _ = make_folder(2)
    image_set_import(path=folder, set_name="a", kind="reference")
    image_set_import(path=folder, set_name="b", kind="reference")
    assert Image.objects.count() == 4
    assert len(media_files(settings)) == 2


def test_a_zip_of_a_folder_imports_with_names_relative_to_that_folder(tmp_path):
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("myset/a.png", png_bytes(1))
        zf.writestr("myset/sub/b.png", png_bytes(2))
        zf.writestr(
            "myset/manifest.jsonl",
            '{"file": "a.png", "prompt": "x"}\n'
            '{"file": "sub/b.png", "prompt": "y", "source_caption": "s"}\n',
        )
        zf.writestr("__MACOSX/myset/._a.png", b"junk")
    result = image_set_import(path=archive, set_name="z", kind="reference")
    assert result.created == 2
    assert set(Image.objects.values_list("filename", flat=True)) == {"a.png", "sub/b.png"}
    assert Image.objects.get(filename="sub/b.png").source_caption == "s"


def test_images_of_a_generated_set_link_to_their_source_images(make_folder, tmp_path):
    src, _ = make_folder(2, name="src")
    image_set_import(path=src, set_name="sources", kind="source")
    edited = tmp_path / "edited"
    write_images(edited, 2, start_seed=50, prefix="e")
    (edited / "manifest.csv").write_text(
        "file,source,source_caption,caption\n"
        "e000.png,img000.png,a cat,a cat in a hat\n"
        "e001.png,img001.png,a dog,a dog in a hat\n"
    )
    image_set_import(
        path=edited,
        set_name="edits",
        model_name="editor",
        source_set=ImageSet.objects.get(name="sources"),
    )
    e = Image.objects.get(filename="e000.png")
    assert e.source.filename == "img000.png" and e.source.image_set.name == "sources"
    assert (e.source_caption, e.caption) == ("a cat", "a cat in a hat")


# --- one decode path ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode,save",
    [
        ("CMYK", {"format": "JPEG"}),
        ("P", {}),
        ("RGBA", {}),
        ("LA", {}),
        ("L", {}),
        ("I;16", {}),
    ],
)
def test_unusual_modes_import_and_decode_to_rgb(tmp_path, mode, save):
    folder = tmp_path / "modes"
    folder.mkdir()
    ext = ".jpg" if save.get("format") == "JPEG" else ".png"
    if mode == "I;16":
        arr = (np.arange(32 * 24, dtype=np.uint16).reshape(24, 32) * 80).astype(np.uint16)
        PILImage.fromarray(arr).save(folder / f"x{ext}")
    else:
        (folder / f"x{ext}").write_bytes(png_bytes(3, mode=mode, **save))
    image_set_import(path=folder, set_name="m", kind="reference")
    img = Image.objects.get()
    pixels = decode_rgb(blob_path(img.blob))
    assert pixels.mode == "RGB" and pixels.size == (32, 24)
    if mode == "I;16":
        # 16-bit is scaled to 8 bits, not clipped to white.
        arr = np.asarray(pixels)[..., 0]
        assert 0 < arr.mean() < 255 and arr.max() == round(int(23 * 32 + 31) * 80 * 255 / 65535)


def test_an_animated_gif_imports_its_first_frame(tmp_path):
    folder = tmp_path / "gif"
    folder.mkdir()
    frames = [PILImage.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    image_set_import(path=folder, set_name="g", kind="reference")
    pixels = np.asarray(decode_rgb(blob_path(Image.objects.get().blob)))
    assert tuple(pixels[0, 0]) == (255, 0, 0)


# --- bad input: a clear error, and nothing changes ------------------------------------------


def test_a_truncated_png_is_refused_and_nothing_is_imported(make_folder, settings):
    folder, names = make_folder(3)
    data = (folder / names[1]).read_bytes()
    (folder / names[1]).write_bytes(data[: len(data) // 2])
    message = import_fails(folder)
    assert "img001.png" in message and "truncated or corrupt" in message
    assert_nothing_imported(settings)


def test_a_truncated_jpeg_is_refused(tmp_path, settings):
    folder = tmp_path / "j"
    folder.mkdir()
    data = png_bytes(1, size=(64, 64), format="JPEG", quality=90)
    (folder / "a.jpg").write_bytes(data[: len(data) - 200])
    assert "a.jpg" in import_fails(folder)
    assert_nothing_imported(settings)


def test_a_zero_byte_file_is_refused(make_folder, settings):
    folder, _ = make_folder(1)
    (folder / "empty.png").write_bytes(b"")
    assert "empty.png: the file is empty" in import_fails(folder)
    assert_nothing_imported(settings)


def test_a_text_file_named_png_is_refused(make_folder, settings):
    folder, _ = make_folder(1)
    (folder / "notes.png").write_text("hello, I am not an image")
    assert "notes.png: not an image file" in import_fails(folder)
    assert_nothing_imported(settings)


def test_a_file_that_is_not_an_image_by_name_is_refused(make_folder, settings):
    folder, _ = make_folder(1)
    (folder / "readme.txt").write_text("hi")
    assert "readme.txt: not an image file name" in import_fails(folder)


def test_an_image_over_the_pixel_limit_is_refused(make_folder, settings):
    settings.EVALSITE_MAX_IMAGE_PIXELS = 32 * 24 - 1
    folder, _ = make_folder(1)
    message = import_fails(folder)
    assert "img000.png" in message and "over the limit" in message
    assert_nothing_imported(settings)


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path, settings):
    # A 4000 x 4000 PNG of 16 megapixels that compresses to about 16 kilobytes.
    settings.EVALSITE_MAX_IMAGE_PIXELS = 1_000_000
    folder = tmp_path / "bomb"
    folder.mkdir()
    PILImage.new("L", (4000, 4000)).save(folder / "bomb.png", optimize=True)
    assert (folder / "bomb.png").stat().st_size < 100_000
    message = import_fails(folder)
    assert "bomb.png" in message and "16,000,000 pixels is over the limit" in message
    assert_nothing_imported(settings)


def test_a_zip_entry_with_dotdot_is_refused(tmp_path, settings):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.png", png_bytes(1))
        zf.writestr("../escape.png", png_bytes(2))
    assert "'..' is not allowed" in import_fails(archive)
    assert_nothing_imported(settings)
    assert not (tmp_path.parent / "escape.png").exists()


def test_a_zip_entry_with_an_absolute_path_is_refused(tmp_path, settings):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("/etc/evil.png", png_bytes(1))
    assert "absolute paths are not allowed" in import_fails(archive)
    assert_nothing_imported(settings)


def test_a_symlink_in_a_zip_is_refused(tmp_path, settings):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.png", png_bytes(1))
        info = zipfile.ZipInfo("link.png")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    assert "link.png: symbolic links are not imported" in import_fails(archive)
    assert_nothing_imported(settings)


def test_a_symlink_in_a_folder_is_refused(make_folder, tmp_path, settings):
    folder, _ = make_folder(1)
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes(9))
    os.symlink(secret, folder / "link.png")
    assert "link.png: symbolic links are not imported" in import_fails(folder)
    assert_nothing_imported(settings)


def test_a_manifest_row_naming_a_missing_file_is_refused(make_folder, settings):
    folder, _ = make_folder(1, rows=[{"file": "img000.png"}, {"file": "ghost.png"}])
    assert "ghost.png: named in the manifest but not found" in import_fails(folder)
    assert_nothing_imported(settings)


def test_a_file_absent_from_the_manifest_is_refused(make_folder, settings):
    folder, _ = make_folder(2, rows=[{"file": "img000.png", "prompt": "p"}])
    assert "img001.png: not listed in the manifest" in import_fails(folder)
    assert_nothing_imported(settings)


def test_a_non_utf8_manifest_is_refused(make_folder, settings):
    folder, _ = make_folder(1)
    (folder / "manifest.csv").write_bytes("file,prompt\nimg000.png,caf\xe9\n".encode("latin-1"))
    message = import_fails(folder)
    assert "manifest.csv: not UTF-8" in message and "0xe9" in message
    assert_nothing_imported(settings)


def test_duplicate_manifest_rows_are_refused(make_folder, settings):
    folder, _ = make_folder(1, rows=[{"file": "img000.png"}, {"file": "img000.png"}])
    assert "img000.png appears twice in the manifest" in import_fails(folder)
    assert_nothing_imported(settings)


def test_invalid_jsonl_names_the_line(make_folder, settings, tmp_path):
    folder, _ = make_folder(1)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"file": "img000.png"}\n{"file": oops}\n')
    assert "m.jsonl line 2: invalid JSON" in import_fails(folder, manifest=manifest)


def test_a_manifest_without_a_file_column_is_refused(make_folder, settings):
    folder, _ = make_folder(1)
    (folder / "manifest.csv").write_text("name,prompt\nimg000.png,p\n")
    assert "must have a 'file' column" in import_fails(folder)


def test_a_bad_seed_is_refused(make_folder, settings):
    folder, _ = make_folder(1, rows=[{"file": "img000.png", "seed": "abc"}])
    assert "manifest.csv line 2 (img000.png): seed 'abc' is not an integer" in import_fails(folder)


def test_two_identical_files_in_one_import_are_refused(make_folder, settings):
    folder, names = make_folder(1)
    (folder / "copy.png").write_bytes((folder / names[0]).read_bytes())
    assert "the same image as" in import_fails(folder)
    assert_nothing_imported(settings)


def test_every_problem_is_listed_not_only_the_first(make_folder, settings):
    folder, _ = make_folder(2)
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("nope")
    with pytest.raises(ImportFailed) as info:
        image_set_import(path=folder, set_name="s", kind="reference")
    assert len(info.value.problems) == 2


def test_a_changed_file_under_an_existing_name_is_refused_and_the_set_is_unchanged(
    make_folder, settings
):
    folder, names = make_folder(2)
    image_set_import(path=folder, set_name="s", kind="reference")
    (folder / names[0]).write_bytes(png_bytes(999))
    write_images(folder, 1, start_seed=500, prefix="extra")
    message = import_fails(folder)
    assert "img000.png: the set already holds a different image" in message
    assert Image.objects.count() == 2
    assert len(media_files(settings)) == 2


def test_kind_and_model_must_match_an_existing_set(make_folder, settings):
    folder, _ = make_folder(1)
    image_set_import(path=folder, set_name="s", model_name="a")
    assert "already belongs to model a" in import_fails(folder, kind=None, model_name="b")
    assert "already exists with kind generated" in import_fails(folder, kind="reference")


def test_a_generated_set_needs_a_model(make_folder, settings):
    folder, _ = make_folder(1)
    assert "needs the model" in import_fails(folder, kind="generated")
    assert_nothing_imported(settings)


def test_sources_must_exist_in_the_source_set(make_folder, tmp_path, settings):
    src, _ = make_folder(1, name="src")
    image_set_import(path=src, set_name="sources", kind="source")
    edited = tmp_path / "edited"
    write_images(edited, 1, start_seed=50, prefix="e")
    (edited / "manifest.csv").write_text("file,source\ne000.png,nope.png\n")
    message = import_fails(
        edited, kind=None, model_name="m", source_set=ImageSet.objects.get(name="sources")
    )
    assert "source nope.png: not in source set 'sources'" in message
    assert "needs a source set" not in message


def test_a_database_failure_leaves_the_stored_blobs_for_the_collector(
    make_folder, settings, monkeypatch
):
    # A failing import never deletes blobs: a concurrent import may be committing rows
    # that point at them. The collector removes them once the grace period has passed.
    folder, _ = make_folder(2)

    def boom(*args, **kwargs):
        raise RuntimeError("database went away")

    with monkeypatch.context() as patch:
        patch.setattr(Image.objects, "bulk_create", boom)
        with pytest.raises(RuntimeError):
            image_set_import(path=folder, set_name="s", kind="reference")
    assert Image.objects.count() == 0 and ImageSet.objects.count() == 0
    blobs = media_files(settings)
    assert len(blobs) == 2 and not any(p.name.startswith(".tmp-") for p in blobs)

    assert blobs_collect().removed == 0  # younger than the grace period
    assert sorted(blobs_collect(grace_seconds=0).originals) == sorted(
        p.relative_to(settings.MEDIA_ROOT).as_posix() for p in blobs
    )
    assert media_files(settings) == []


def test_a_corrupt_zip_is_refused(tmp_path, settings):
    archive = tmp_path / "bad.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.png", png_bytes(1))
    archive.write_bytes(buf.getvalue()[:-30])
    message = import_fails(archive)
    assert "bad.zip" in message
    assert_nothing_imported(settings)


def test_a_zip_whose_manifest_is_corrupt_is_refused_naming_the_manifest(tmp_path, settings):
    """A damaged manifest.csv inside the zip (bad CRC) is a listed problem, not a traceback."""
    buf = io.BytesIO()
    manifest = b"file,prompt\na.png,a red cube\n"
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("a.png", png_bytes(1))
        zf.writestr("manifest.csv", manifest)
    data = bytearray(buf.getvalue())
    at = data.index(manifest)
    data[at + 5] ^= 0xFF  # the stored bytes no longer match the CRC the zip recorded
    archive = tmp_path / "damaged.zip"
    archive.write_bytes(bytes(data))
    message = import_fails(archive)
    assert "manifest.csv" in message and "cannot be read" in message
    assert_nothing_imported(settings)


def test_jsonl_metadata_keeps_structured_values(tmp_path):
    folder = tmp_path / "j"
    write_images(folder, 1)
    (folder / "manifest.jsonl").write_text(
        json.dumps({"file": "img000.png", "prompt": "p", "sampler": {"steps": 30}}) + "\n"
    )
    image_set_import(path=folder, set_name="j", kind="reference")
    assert Image.objects.get().metadata == {"sampler": {"steps": 30}}


# --- malformed values: each a listed problem naming the file and the row, nothing written -----


def manifest_folder(make_folder, text: str, name: str = "manifest.csv", count: int = 2):
    folder, _ = make_folder(count)
    (folder / name).write_bytes(text.encode("utf-8", "surrogatepass"))
    return folder


@pytest.mark.parametrize(
    "seed", ["0", "18446744073709551615", "9223372036854775808", "-9223372036854775808"]
)
def test_seeds_are_stored_as_what_they_are_up_to_2_to_the_64_minus_1(make_folder, seed):
    folder, _ = make_folder(1, rows=[{"file": "img000.png", "seed": seed}])
    image_set_import(path=folder, set_name="s", kind="reference")
    assert Image.objects.get().seed == int(seed)
    assert Image.objects.filter(seed=int(seed)).count() == 1


def test_a_seed_past_64_bits_is_a_listed_problem(make_folder, settings):
    folder = manifest_folder(
        make_folder, "file,seed\nimg000.png,18446744073709551616\nimg001.png,1.5\n"
    )
    with pytest.raises(ImportFailed) as info:
        image_set_import(path=folder, set_name="s", kind="reference")
    assert info.value.problems == [
        "manifest.csv line 2 (img000.png): seed 18446744073709551616 is outside "
        "-9223372036854775808 to 18446744073709551615 (64 bits)",
        "manifest.csv line 3 (img001.png): seed '1.5' is not an integer",
    ]
    assert_nothing_imported(settings)


def test_a_nul_byte_in_a_csv_manifest_is_a_listed_problem(make_folder, settings):
    folder = manifest_folder(make_folder, "file,prompt\nimg000.png,a cat\nimg001.png,a \x00dog\n")
    assert "manifest.csv line 3: a NUL byte" in import_fails(folder)
    assert_nothing_imported(settings)


def test_a_nul_in_jsonl_metadata_is_a_listed_problem(make_folder, settings):
    text = '{"file": "img000.png", "sampler": "euler\\u0000"}\n{"file": "img001.png"}\n'
    folder = manifest_folder(make_folder, text, name="manifest.jsonl")
    message = import_fails(folder)
    assert "manifest.jsonl line 1 (img000.png): metadata holds a NUL character" in message
    assert "img000.png: not listed" not in message  # one problem per cause
    assert_nothing_imported(settings)


def test_control_characters_and_lone_surrogates_are_listed_problems(make_folder, settings):
    text = (
        '{"file": "img000.png", "prompt": "a \\u0007 bell"}\n'
        '{"file": "img001.png", "caption": "half \\ud800 a pair"}\n'
    )
    folder = manifest_folder(make_folder, text, name="manifest.jsonl")
    with pytest.raises(ImportFailed) as info:
        image_set_import(path=folder, set_name="s", kind="reference")
    assert info.value.problems == [
        "manifest.jsonl line 1 (img000.png): 'prompt' holds the control character '\\x07'",
        "manifest.jsonl line 2 (img001.png): 'caption' holds an invalid Unicode character "
        "(lone surrogate '\\ud800')",
    ]
    assert_nothing_imported(settings)


def test_over_long_prompts_and_metadata_are_listed_problems(make_folder, settings):
    text = (
        json.dumps({"file": "img000.png", "prompt": "p" * 20_001}) + "\n"
        + json.dumps({"file": "img001.png", "notes": "n" * 70_000}) + "\n"
    )  # fmt: skip
    folder = manifest_folder(make_folder, text, name="manifest.jsonl")
    with pytest.raises(ImportFailed) as info:
        image_set_import(path=folder, set_name="s", kind="reference")
    assert info.value.problems == [
        "manifest.jsonl line 1 (img000.png): 'prompt' is 20,001 characters, over the limit "
        "of 20,000",
        "manifest.jsonl line 2 (img001.png): the other columns (metadata) take 70,013 bytes, "
        "over the limit of 65,536",
    ]
    assert_nothing_imported(settings)


@pytest.mark.parametrize(
    "name,problem",
    [
        (
            "d" * 300 + "/" + "n" * 250 + ".png",
            "the file name is 555 characters, over the limit of 500",
        ),
        ("bad\x1b[31m.png", "the file name holds the control character '\\x1b'"),
    ],
)
def test_a_bad_zip_entry_name_is_a_listed_problem(tmp_path, settings, name, problem):
    archive = tmp_path / "names.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.png", png_bytes(1))
        zf.writestr(name, png_bytes(2))
    assert problem in import_fails(archive)
    assert_nothing_imported(settings)


def test_a_long_set_name_is_a_listed_problem(make_folder, settings):
    folder, _ = make_folder(1)
    assert "the set name is 201 characters, over the limit of 200" in import_fails(
        folder, set_name="s" * 201
    )
    assert_nothing_imported(settings)


def test_a_16_bit_image_too_big_to_decode_is_refused_before_decoding(
    tmp_path, settings, monkeypatch
):
    # 1200 x 1000 16-bit greyscale: 2.4 MB of samples, about 21 MB through the conversion
    # to 8-bit RGB; the limit is set below that, and the decoder must never run on it.
    settings.EVALSITE_MAX_DECODE_BYTES = 10 * 2**20
    folder = tmp_path / "deep"
    folder.mkdir()
    PILImage.fromarray(np.zeros((1000, 1200), dtype=np.uint16)).save(folder / "deep.png")
    decoded = []
    real_load = images_module._load_first_frame

    def recording_load(img, name):
        decoded.append(name)
        return real_load(img, name)

    with monkeypatch.context() as patch:
        patch.setattr(images_module, "_load_first_frame", recording_load)
        message = import_fails(folder)
    assert "deep.png: 1200x1000 in mode I;16 needs about 21 MB to decode, over the limit" in message
    assert decoded == []
    assert_nothing_imported(settings)


def test_more_files_than_the_limit_are_refused_before_any_is_read(make_folder, settings):
    settings.EVALSITE_MAX_IMPORT_FILES = 2
    folder, _ = make_folder(3)
    assert "3 files, over the limit of 2 per import" in import_fails(folder)
    assert_nothing_imported(settings)


def test_a_failed_import_leaves_no_temporary_file(make_folder, settings):
    folder, names = make_folder(3)
    (folder / "bad.png").write_bytes(b"no")
    import_fails(folder)
    assert media_files(settings) == []


def test_a_concurrent_import_that_committed_first_makes_this_one_a_listed_problem(
    make_folder, monkeypatch, settings
):
    # Between this import's checks and its insert, another import adds the same file.
    folder, _ = make_folder(2)
    other, _ = make_folder(1, name="other")
    image_set_import(path=other, set_name="s", kind="reference")
    from metrics.services import imports

    real = imports.against_existing
    monkeypatch.setattr(imports, "against_existing", lambda s, checked, p: (checked, 0))
    message = import_fails(folder)
    monkeypatch.setattr(imports, "against_existing", real)
    assert "another import into it committed while this one ran" in message
    assert Image.objects.count() == 1
