"""Sized copies of images for pages (thumbnails, the images judges see).

A derivative is decoded through the one documented path and re-encoded from
pixels only, so it carries no metadata (no EXIF, no PNG text chunks naming the
prompt or the model). Cached on disk under the source's sha256 and the size
(``derivatives/<sha[:2]>/<sha256>-<size>[-<fit>].jpg``: the blob collector reads the
sha256 at the start of the name).

Two kinds: *bounded* copies (longer side at most ``max_side``, shape kept) for
researchers' pages, and *boxed* copies (exactly ``max_side`` x ``max_side``) for
judges: every image of a campaign, whatever its native size and shape, is scaled
up or down into the same square, padded (``pad``) or centre-cropped (``crop``),
so neither resolution nor aspect ratio tells one model (or a real photo) from another.
"""

from __future__ import annotations

import io
from pathlib import Path

from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageOps

from metrics.engine.images import decode_rgb
from metrics.models import Image
from metrics.storage import blob_find, blob_local, blob_write

# Sizes pages ask for; anything else is refused so a client cannot fill the disk.
DERIVATIVE_SIZES = (256, 512, 768, 1024)
DERIVATIVE_QUALITY = 90
FITS = ("pad", "crop")
# Mid grey: the padding of boxed copies, the same for every image.
PAD_COLOUR = (128, 128, 128)


def derivative_relpath(*, sha256: str, max_side: int, fit: str | None = None) -> str:
    """Where a derivative lives under MEDIA_ROOT (its name starts with the source's sha256)."""
    suffix = f"-{fit}" if fit else ""
    return f"derivatives/{sha256[:2]}/{sha256}-{max_side}{suffix}.jpg"


def image_derivative(*, image: Image, max_side: int, fit: str | None = None) -> Path:
    """A local file of a JPEG of ``image``: bounded by ``max_side``, or boxed to it with ``fit``.

    Stored next to the originals (the bucket too) and read from the local cache there.
    """
    if max_side not in DERIVATIVE_SIZES:
        raise ValueError(f"size {max_side} is not one of {DERIVATIVE_SIZES}")
    if fit is not None and fit not in FITS:
        raise ValueError(f"fit {fit!r} is not one of {FITS}")
    relpath = derivative_relpath(sha256=image.sha256, max_side=max_side, fit=fit)
    found = blob_find(relpath)
    if found is not None:
        return found
    pixels = decode_rgb(blob_local(image.blob), max_pixels=settings.EVALSITE_MAX_IMAGE_PIXELS)
    box = (max_side, max_side)
    if fit == "pad":
        # Scaled (up or down) until it touches the box, then centred on grey.
        pixels = ImageOps.pad(pixels, box, PILImage.Resampling.LANCZOS, color=PAD_COLOUR)
    elif fit == "crop":
        pixels = ImageOps.fit(pixels, box, PILImage.Resampling.LANCZOS)
    elif max(pixels.size) > max_side:
        pixels = pixels.copy()
        pixels.thumbnail(box, PILImage.Resampling.LANCZOS)
    buffer = io.BytesIO()
    # A fresh image from raw pixels: nothing of the original file's metadata survives.
    clean = PILImage.frombytes("RGB", pixels.size, pixels.tobytes())
    clean.save(buffer, format="JPEG", quality=DERIVATIVE_QUALITY, optimize=True)
    blob_write(buffer.getvalue(), relpath)
    return blob_local(relpath)
