"""WSGI entry (HTTP only; websockets need asgi.py)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelreview.settings")
application = get_wsgi_application()
