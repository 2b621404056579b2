"""The one decode path of evalsite: bytes on disk -> verified 8-bit RGB pixels.

Every part of evalsite (import, metric features, thumbnails, the images judges
see) decodes through :func:`decode_rgb`, so a number and a picture always come
from the same pixels.

The rule, chosen to match torch-fidelity, clean-fid and pytorch-fid (which all
do ``PIL.Image.open(path).convert("RGB")``):

- pixels are taken in stored order; EXIF orientation is **not** applied;
- the first frame of an animated image is used;
- alpha is dropped (not composited), as PIL's ``convert("RGB")`` does;
- palette, greyscale, CMYK and YCbCr images go through PIL's ``convert("RGB")``;
- 16-bit and 32-bit greyscale (``I;16*``, ``I``) and float (``F``) images are
  scaled to 8 bits (value * 255 / max of the mode's range, rounded) before
  conversion, instead of PIL's clipping, which would turn most of a 16-bit
  image white.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

# Formats we accept. Anything else (even if PIL can read it) is refused at import,
# so that the set of decoders in play stays small and documented.
SUPPORTED_FORMATS = {"PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF"}
IMAGE_EXTENSIONS = {
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
    ".bmp",
    ".tif",
    ".tiff",
    ".gif",
}
# 64 megapixels: far above any generator's output, far below a decompression bomb.
DEFAULT_MAX_PIXELS = 64_000_000


class ImageError(ValueError):
    """An image that cannot be used: says which file and why."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True)
class ImageInfo:
    """What verification learnt about one image file."""

    width: int
    height: int
    format: str  # PIL format name: PNG, JPEG, ...
    mode: str  # PIL mode as stored: RGB, RGBA, P, CMYK, I;16, ...
    frames: int


# Bytes per pixel of decoding through this module: PIL's buffer for the stored mode
# (RGB and most modes use 4 bytes a pixel inside PIL) plus the arrays of the conversion
# to 8-bit RGB (16/32-bit and float go through float64 arrays: see _to_rgb).
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
_CONVERSION_BYTES = {"I;16": 16, "I;16L": 16, "I;16B": 16, "I;16N": 16, "I": 26, "F": 26}


def decode_bytes_needed(mode: str, width: int, height: int) -> int:
    """Memory (bytes) that decoding an image of this mode and size to 8-bit RGB takes at peak."""
    stored = _STORED_BYTES.get(mode, 4)
    conversion = _CONVERSION_BYTES.get(mode, 0 if mode == "RGB" else 4)
    return width * height * (stored + conversion)


def _open(
    source: bytes | Path, name: str, max_pixels: int, max_decode_bytes: int | None = None
) -> Image.Image:
    if isinstance(source, bytes) and not source:
        raise ImageError(name, "the file is empty (0 bytes)")
    try:
        # PIL's own bomb check is a warning at MAX_IMAGE_PIXELS and an error at twice
        # that; we check the header size ourselves below, so silence it here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Image.DecompressionBombError as exc:
        raise ImageError(
            name, f"over the pixel limit, a likely decompression bomb ({exc})"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(name, "not an image file (no known image format)") from None
    except Exception as exc:  # PIL raises many kinds of errors on garbage input
        raise ImageError(name, f"cannot be read as an image ({exc})") from None
    if img.format not in SUPPORTED_FORMATS:
        raise ImageError(
            name,
            f"unsupported format {img.format}; use one of {', '.join(sorted(SUPPORTED_FORMATS))}",
        )
    width, height = img.size
    if width < 1 or height < 1:
        raise ImageError(name, f"invalid size {width}x{height}")
    if width * height > max_pixels:
        raise ImageError(
            name,
            f"{width}x{height} = {width * height:,} pixels is over the limit of "
            f"{max_pixels:,} (a decompression bomb or an oversized image)",
        )
    needed = decode_bytes_needed(img.mode, width, height)
    if max_decode_bytes is not None and needed > max_decode_bytes:
        raise ImageError(
            name,
            f"{width}x{height} in mode {img.mode} needs about {needed / 2**20:,.0f} MB to "
            f"decode, over the limit of {max_decode_bytes / 2**20:,.0f} MB; "
            "save it smaller or in 8 bits",
        )
    return img


def _load_first_frame(img: Image.Image, name: str) -> None:
    try:
        img.seek(0)
        # LOAD_TRUNCATED_IMAGES stays False: a truncated file raises here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
    except Exception as exc:
        raise ImageError(name, f"the image data is truncated or corrupt ({exc})") from None


def verify_image_bytes(
    data: bytes, name: str = "image", *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> ImageInfo:
    """Check that ``data`` is a complete, decodable, supported image; return its facts."""
    return _checked_info(_open(data, name, max_pixels), name)


def _checked_info(img: Image.Image, name: str) -> ImageInfo:
    fmt, mode, size = img.format, img.mode, img.size
    frames = getattr(img, "n_frames", 1)
    _load_first_frame(img, name)
    # A full decode catches corruption that load() on some formats lets through
    # (e.g. a JPEG whose scan data is damaged but whose header is fine).
    _to_rgb(img)
    return ImageInfo(width=size[0], height=size[1], format=fmt, mode=mode, frames=frames)


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        arr = np.asarray(img, dtype=np.float64) * (255.0 / 65535.0)
        return Image.fromarray(np.rint(arr).astype(np.uint8), "L").convert("RGB")
    if mode == "I":
        arr = np.asarray(img, dtype=np.float64)
        # PNG 16-bit greyscale often opens as mode "I" with values up to 65535.
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        arr = np.clip(arr, 0, top) * (255.0 / top)
        return Image.fromarray(np.rint(arr).astype(np.uint8), "L").convert("RGB")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        arr = np.clip(arr, 0, top) * (255.0 / top)
        return Image.fromarray(np.rint(arr).astype(np.uint8), "L").convert("RGB")
    if mode == "RGB":
        return img
    return img.convert("RGB")


def verify_image_file(
    path: Path,
    name: str = "image",
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_decode_bytes: int | None = None,
) -> ImageInfo:
    """:func:`verify_image_bytes` of a file, read by the decoder as it goes (never whole).

    With ``max_decode_bytes`` an image whose header promises more decoding memory than
    that is refused before a pixel is decoded.
    """
    if path.stat().st_size == 0:
        raise ImageError(name, "the file is empty (0 bytes)")
    img = _open(path, name, max_pixels, max_decode_bytes)
    try:
        return _checked_info(img, name)
    finally:
        img.close()


def decode_rgb_bytes(
    data: bytes, name: str = "image", *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Decode ``data`` through the documented path and return an 8-bit RGB PIL image."""
    img = _open(data, name, max_pixels)
    _load_first_frame(img, name)
    return _to_rgb(img)


def decode_rgb(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode the image file at ``path`` to 8-bit RGB (see the module docstring for the rule)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(str(path), f"cannot be read ({exc.strerror or exc})") from None
    return decode_rgb_bytes(data, str(path), max_pixels=max_pixels)


def decode_rgb_array(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode to a ``(H, W, 3)`` uint8 array."""
    return np.asarray(decode_rgb(path, max_pixels=max_pixels), dtype=np.uint8)


def list_image_files(directory: str | Path) -> list[Path]:
    """The image files directly inside ``directory``, sorted by name.

    Raises ValueError (with a message naming the folder) when it is missing, is not a
    folder, or holds no image file.
    """
    d = Path(directory)
    if not d.exists():
        raise ValueError(f"{d}: no such directory")
    if not d.is_dir():
        raise ValueError(f"{d}: not a directory (give a folder of images)")
    files = sorted(p for p in d.iterdir() if p.is_file() and is_image_name(p.name))
    if not files:
        raise ValueError(
            f"{d}: no images found (looked for {', '.join(sorted(IMAGE_EXTENSIONS))} "
            "directly inside it, not in subfolders)"
        )
    return files


def is_image_name(name: str) -> bool:
    """True when ``name`` has one of the image extensions evalsite imports."""
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS
