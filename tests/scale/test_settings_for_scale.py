"""Settings a multi-machine deployment depends on, read from the environment (jewelreview.settings
is evaluated at import, so each case imports it in a fresh interpreter)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmarks.harness import REPO

PROBE = ("import json; from jewelreview import settings as s; db = s.DATABASES['default']; "
         "print(json.dumps({'age': db['CONN_MAX_AGE'], 'health': db.get('CONN_HEALTH_CHECKS', False), "
         "'connect_timeout': db.get('OPTIONS', {}).get('connect_timeout'), 'pool': db.get('OPTIONS', {}).get('pool'), "
         "'transport': getattr(s, 'CELERY_BROKER_TRANSPORT_OPTIONS', None)}))")


def settings_with(**env) -> dict:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DATABASE_", "DB_", "CELERY_", "DJANGO_", "REDIS_"))}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**base, **env}, cwd=REPO, capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_postgresql_gets_a_pool_of_health_checked_connections_per_process(tmp_path):
    pg = settings_with(DATABASE_URL="postgres://u@127.0.0.1:5432/x", JEWELREVIEW_VAR=str(tmp_path))
    assert (pg["age"], pg["health"], pg["connect_timeout"]) == (0, True, 5)  # Django: pool, not persistent
    assert pg["pool"] == {"min_size": 2, "max_size": 12, "timeout": 5}
    sized = settings_with(DATABASE_URL="postgres://u@127.0.0.1:5432/x", DB_POOL_SIZE="30", DB_POOL_TIMEOUT="2",
                          JEWELREVIEW_VAR=str(tmp_path))
    assert sized["pool"] == {"min_size": 2, "max_size": 30, "timeout": 2}
    unpooled = settings_with(DATABASE_URL="postgres://u@127.0.0.1:5432/x", DB_POOL_SIZE="0",
                             JEWELREVIEW_VAR=str(tmp_path))
    assert (unpooled["age"], unpooled["health"], unpooled["pool"]) == (60, True, None)
    tuned = settings_with(DATABASE_URL="postgres://u@127.0.0.1:5432/x", DB_POOL_SIZE="0", DB_CONN_MAX_AGE="0",
                          DB_CONN_HEALTH_CHECKS="0", JEWELREVIEW_VAR=str(tmp_path))
    assert (tuned["age"], tuned["health"]) == (0, False)
    sqlite = settings_with(JEWELREVIEW_VAR=str(tmp_path))  # persistent: opening one costs ~1 ms per message
    assert sqlite["age"] == 600 and sqlite["connect_timeout"] is None and sqlite["pool"] is None


def test_redis_broker_hands_a_dead_workers_task_on_within_minutes(tmp_path):
    default = settings_with(CELERY_BROKER_URL="redis://127.0.0.1:6379/1", JEWELREVIEW_VAR=str(tmp_path))
    assert default["transport"] == {"visibility_timeout": 600}
    tuned = settings_with(CELERY_BROKER_URL="redis://127.0.0.1:6379/1", CELERY_VISIBILITY_TIMEOUT="3",
                          JEWELREVIEW_VAR=str(tmp_path))
    assert tuned["transport"] == {"visibility_timeout": 3}
    amqp = settings_with(CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:5672//", JEWELREVIEW_VAR=str(tmp_path))
    assert amqp["transport"] is None  # RabbitMQ redelivers when the worker's connection drops
