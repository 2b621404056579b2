"""Sized copies of images for pages (thumbnails, the images judges see).

A derivative is decoded through the one documented path and re-encoded from
pixels only, so it carries no metadata (no EXIF, no PNG text chunks naming the
prompt or the model). Cached on disk under the source's sha256 and the size.
"""

from __future__ import annotations

import io
from pathlib import Path

from django.conf import settings
from PIL import Image as PILImage

from metrics.engine.images import decode_rgb
from metrics.models import Image
from metrics.storage import blob_path, blob_write

# Sizes pages ask for; anything else is refused so a client cannot fill the disk.
DERIVATIVE_SIZES = (256, 512, 1024)
DERIVATIVE_QUALITY = 90


def image_derivative(*, image: Image, max_side: int) -> Path:
    """Path of a JPEG of ``image`` whose longer side is at most ``max_side`` (made if missing)."""
    if max_side not in DERIVATIVE_SIZES:
        raise ValueError(f"size {max_side} is not one of {DERIVATIVE_SIZES}")
    relpath = f"derivatives/{image.sha256[:2]}/{image.sha256}-{max_side}.jpg"
    target = Path(settings.MEDIA_ROOT) / relpath
    if target.exists():
        return target
    pixels = decode_rgb(blob_path(image.blob), max_pixels=settings.EVALSITE_MAX_IMAGE_PIXELS)
    if max(pixels.size) > max_side:
        pixels = pixels.copy()
        pixels.thumbnail((max_side, max_side), PILImage.Resampling.LANCZOS)
    buffer = io.BytesIO()
    # A fresh image from raw pixels: nothing of the original file's metadata survives.
    clean = PILImage.frombytes("RGB", pixels.size, pixels.tobytes())
    clean.save(buffer, format="JPEG", quality=DERIVATIVE_QUALITY, optimize=True)
    blob_write(buffer.getvalue(), relpath)
    return target
