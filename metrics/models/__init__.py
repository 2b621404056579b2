"""Models of the metrics app: the image catalog (catalog.py) and metric runs (runs.py)."""

from metrics.models.catalog import Image, ImageSet, ModelUnderTest, Prompt

__all__ = ["Image", "ImageSet", "ModelUnderTest", "Prompt"]
