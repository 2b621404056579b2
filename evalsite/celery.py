"""The Celery app. Workers: `celery -A evalsite worker -Q gpu,cpu`.

Two queues: `gpu` runs feature extraction (chunks of images through a network),
`cpu` runs cheap aggregation. The embedded default worker consumes both.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.settings")

app = Celery("evalsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
