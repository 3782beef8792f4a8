"""The host project's Celery app; the reusable app only uses ``shared_task``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms_site.settings")

app = Celery("cms_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
