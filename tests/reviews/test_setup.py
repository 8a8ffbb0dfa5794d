"""Settings from the environment, the production settings, seed_demo and the demo banner."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parents[2]


def settings_in_subprocess(env: dict, expr: str, module="jewelreview.settings") -> str:
    code = f"import importlib; s = importlib.import_module({module!r}); print(repr(({expr},)))"
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DEBUG"}}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_embedded_default(tmp_path):
    expr = "s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], s.CELERY_TASK_ALWAYS_EAGER"
    out = settings_in_subprocess({"JEWELREVIEW_VAR": str(tmp_path)}, expr)
    assert out == "('django.db.backends.sqlite3', 'channels.layers.InMemoryChannelLayer', True)"


def test_services_switch_on_by_configuration(tmp_path):
    env = {"DATABASE_URL": "postgres://u:p@db.example:5432/jr", "REDIS_URL": "redis://r.example:6379/0",
           "CELERY_BROKER_URL": "amqp://guest:guest@mq.example//", "JEWELREVIEW_VAR": str(tmp_path),
           "MEDIA_STORAGE": "django.core.files.storage.InMemoryStorage"}
    expr = ("s.DATABASES['default']['ENGINE'], s.DATABASES['default']['HOST'], s.CHANNEL_LAYERS['default']['BACKEND'],"
            " s.CHANNEL_LAYERS['default']['CONFIG']['hosts'], s.CELERY_TASK_ALWAYS_EAGER, s.CELERY_BROKER_URL,"
            " s.STORAGES['default']['BACKEND']")
    out = settings_in_subprocess(env, expr)
    assert out == ("('django.db.backends.postgresql', 'db.example', 'reviews.layers.ResyncingPubSubChannelLayer', "
                   "['redis://r.example:6379/0'], False, 'amqp://guest:guest@mq.example//', "
                   "'django.core.files.storage.InMemoryStorage')")


def test_production_needs_a_secret_and_passes_check_deploy(tmp_path):
    env = {"DJANGO_SETTINGS_MODULE": "jewelreview.settings_production", "JEWELREVIEW_VAR": str(tmp_path)}
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    out = subprocess.run([sys.executable, "manage.py", "check"], env={**clean, **env}, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode != 0 and "SECRET_KEY" in out.stderr
    env.update(SECRET_KEY="x" * 60 + "-not-a-real-production-secret", ALLOWED_HOSTS="review.example.com")
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                         env={**clean, **env}, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr + out.stdout


def test_asgi_routes_http_and_websocket():
    from channels.routing import ProtocolTypeRouter

    from jewelreview.asgi import application

    assert isinstance(application, ProtocolTypeRouter)
    assert set(application.application_mapping) == {"http", "websocket"}


@pytest.mark.django_db
def test_seed_demo_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo")


@pytest.mark.slow
@pytest.mark.django_db
def test_seed_demo_is_complete_and_idempotent(settings, monkeypatch, capsys):
    from django.contrib.auth import authenticate

    from reviews.management.commands import seed_demo
    from reviews.models import Collection, Image, State

    settings.DEBUG = True
    # the same story on smaller pictures so the test stays quick
    monkeypatch.setattr(seed_demo, "SIZE", (240, 180))
    call_command("seed_demo")
    states = set(Image.objects.values_list("state", flat=True))
    assert {State.READY_FOR_RETOUCH, State.IN_RETOUCH, State.LEAD_REVIEW, State.CLIENT_REVIEW, State.APPROVED,
            State.CHANGES_REQUESTED, State.FAILED} <= states
    for name in ("lead", "retoucher1", "retoucher2", "client_a", "client_b"):
        assert authenticate(username=name, password="jewelreview") is not None
    assert Image.objects.filter(state=State.FAILED).get().error
    assert Image.objects.filter(head_seq__gt=0).exists()
    counts = (Collection.objects.count(), Image.objects.count())
    call_command("seed_demo")
    assert (Collection.objects.count(), Image.objects.count()) == counts
    call_command("demo_banner", "--host", "0.0.0.0", "--port", "8123")
    out = capsys.readouterr().out
    assert "http://localhost:8123/" in out and "client_b" in out and "jewelreview" in out
