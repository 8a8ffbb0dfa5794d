"""The Celery app. Configured from Django settings (``CELERY_*``); without a broker it runs
tasks eagerly in the calling process (the embedded default)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelreview.settings")

app = Celery("jewelreview")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
