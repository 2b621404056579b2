"""The evalsite Django project."""

from evalsite.celery import app as celery_app

__all__ = ("celery_app",)
