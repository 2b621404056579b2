"""The metric engine: image decoding, feature extractors and metric maths.

Pure Python + torch. Never imports Django or the apps, so it runs in a notebook,
a batch job or a Celery worker alike.
"""
