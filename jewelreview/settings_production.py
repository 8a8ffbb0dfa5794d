"""Production settings: ``DJANGO_SETTINGS_MODULE=jewelreview.settings_production``.

Everything of ``settings`` (still env-driven) with DEBUG off and the deployment hardening that
``manage.py check --deploy`` asks for. SECRET_KEY and ALLOWED_HOSTS must come from the environment.
"""
import os

os.environ.setdefault("DEBUG", "0")

from jewelreview.settings import *  # noqa: E402,F401,F403
from jewelreview.settings import env_bool, env_int  # noqa: E402

DEBUG = False
WHITENOISE_USE_FINDERS = False
STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}  # noqa: F405

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
