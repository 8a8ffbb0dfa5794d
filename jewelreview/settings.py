"""Settings, read from the environment.

With nothing set this is the embedded default of DESIGN.md: SQLite in ``var/``, the in-memory
channel layer, Celery tasks run eagerly in-process, media in ``var/media``. Setting
``DATABASE_URL``, ``REDIS_URL`` and ``CELERY_BROKER_URL`` switches on PostgreSQL, channels_redis
and real Celery workers; nothing else changes.
"""
from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("JEWELREVIEW_VAR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


# The embedded default is a developer's machine; settings_production turns DEBUG off.
DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-jewelreview"  # noqa: S105 - DEBUG only
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "daphne",  # runserver speaks ASGI (HTTP + websockets)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "reviews",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # daphne does not serve static files; media is never served this way (views + policy do)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "jewelreview.urls"
WSGI_APPLICATION = "jewelreview.wsgi.application"
ASGI_APPLICATION = "jewelreview.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reviews.context_processors.role",
            ],
        },
    },
]

_default_db = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASES = {"default": dj_database_url.config(default=_default_db)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    # a dead server is noticed in seconds, not after the kernel's TCP timeout (s)
    _options["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 5)
    # Health checks: a connection PostgreSQL dropped (restart, network cut) is replaced at the
    # next use instead of failing it (with the pool: checked out of it only when alive).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("DB_CONN_HEALTH_CHECKS", True)
    # A connection pool per process (psycopg_pool, Django's "pool" option), shared by every thread:
    # under ASGI each HTTP request runs in a thread of its own, so without it each request opened
    # (and PostgreSQL forked) a new connection, and the websocket consumers' DB threads each held
    # one. DB_POOL_SIZE is the most connections one process opens; a request waits at most
    # DB_POOL_TIMEOUT s for one, then fails cleanly (503 / "try again" frame). DB_POOL_SIZE=0:
    # no pool, persistent connections per thread for DB_CONN_MAX_AGE s instead.
    _pool_size = env_int("DB_POOL_SIZE", 12)
    if _pool_size > 0:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django: pooling replaces persistent connections
        _options["pool"] = {"min_size": min(2, _pool_size), "max_size": _pool_size,
                            "timeout": env_int("DB_POOL_TIMEOUT", 5)}
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 60)
else:
    # SQLite: persistent connections. Opening one runs the WAL pragmas below and registers
    # Django's SQL functions, ~1 ms of the websocket consumers' one database thread per message
    # (a third of an edit's trip to the others in the embedded default). HTTP requests still
    # close theirs at the end (jewelreview/asgi.py).
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", 600)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] != ":memory:":
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # IMMEDIATE: a write transaction takes the lock when it begins, so two edits never
    # deadlock upgrading a read lock; the timeout (s) lets them queue instead of failing.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20,
                                       # [browser-realtime] WAL: readers never wait for the edit
                                       # being committed, and a commit is not an fsync (25 ms here)
                                       "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start without it
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG or env_bool("WHITENOISE_USE_FINDERS", False)

# Media is private: there is no URL route for MEDIA_ROOT. Originals, tiles, renders and exports
# are served by views that ask reviews.policies first.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media-is-not-served/"
STORAGES = {
    "default": {
        # any Django storage backend, e.g. storages.backends.s3.S3Storage (django-storages)
        "BACKEND": os.environ.get("MEDIA_STORAGE", "django.core.files.storage.FileSystemStorage"),
        "OPTIONS": {"location": str(MEDIA_ROOT)} if not os.environ.get("MEDIA_STORAGE") else {},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Channels: Redis when REDIS_URL is set, otherwise one process's memory.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # channels_redis' pub/sub layer (each frame once per process, not once per socket), which
    # after a Redis outage asks this process's sockets to resume: see reviews/layers.py
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "reviews.layers.ResyncingPubSubChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Celery: real workers when a broker is configured, otherwise tasks run eagerly in-process.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task leaves it for another
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # ingest tasks are long; do not hoard them
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# a deployment (or a test run) sharing one broker with others keeps its tasks on its own queue
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "celery")
if CELERY_BROKER_URL.startswith(("redis://", "rediss://", "redis+socket://")):
    # With Redis as the broker, a task taken by a worker that then died is handed to another
    # only after the visibility timeout (s); Celery's default is an hour. It must stay longer
    # than the longest task runs (a collection export: minutes), or a running task is handed
    # out a second time (harmless, the tasks are idempotent, but wasted work).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 600)}

# Upload guards (bytes / pixels / members). Huge or hostile input is refused with a message.
JEWELREVIEW = {
    "MAX_FILE_BYTES": env_int("JR_MAX_FILE_BYTES", 300 * 1024 * 1024),
    "MAX_UPLOAD_FILES": env_int("JR_MAX_UPLOAD_FILES", 500),
    "MAX_PIXELS": env_int("JR_MAX_PIXELS", 100_000_000),
    "MAX_ZIP_MEMBERS": env_int("JR_MAX_ZIP_MEMBERS", 1000),
    "MAX_ZIP_TOTAL_BYTES": env_int("JR_MAX_ZIP_TOTAL_BYTES", 4 * 1024 * 1024 * 1024),
    "MAX_ZIP_RATIO": env_int("JR_MAX_ZIP_RATIO", 200),
    "SEGMENT_MODEL": os.environ.get("JR_SEGMENT_MODEL", "") or None,
    # eager Celery (no broker): run ingest in an in-process thread pool instead of in the request
    "BACKGROUND_EAGER": env_bool("JR_BACKGROUND_EAGER", True),
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024  # bigger uploads spill to a temp file
DATA_UPLOAD_MAX_NUMBER_FILES = JEWELREVIEW["MAX_UPLOAD_FILES"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # pyvips reports every thread pool at INFO
    "loggers": {"django.db.backends": {"level": "WARNING"}, "pyvips": {"level": "WARNING"}},
}
