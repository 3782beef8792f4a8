"""Host Wagtail site that demonstrates the personalization app."""

from .celery import app as celery_app

__all__ = ["celery_app"]
