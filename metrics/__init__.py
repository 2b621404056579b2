"""evalsite's automated side: the image catalog, metric runs (Django app) and the
metric engine (``metrics.engine``, pure Python + torch).

Keep this file free of Django imports: ``python -m metrics`` and
``import metrics.engine`` must work without settings.
"""
