"""Models of the metrics app: the image catalog (catalog.py) and metric runs (runs.py)."""

from metrics.models.catalog import Image, ImageSet, ModelUnderTest, Prompt
from metrics.models.imports import ImportJob
from metrics.models.runs import Feature, MetricRun, MetricRunItem, RunStep, WorkerBeat

__all__ = [
    "Feature",
    "Image",
    "ImageSet",
    "ImportJob",
    "MetricRun",
    "MetricRunItem",
    "ModelUnderTest",
    "Prompt",
    "RunStep",
    "WorkerBeat",
]
