"""Where Celery tasks run: on the workers when a broker is configured; in the embedded default
(eager Celery) in a small in-process thread pool, so a request answers at once and the work's
progress shows. ``JR_BACKGROUND_EAGER=0`` runs eager tasks inline instead (tests do)."""
from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import transaction

log = logging.getLogger(__name__)

_POOL = None
_POOL_LOCK = threading.Lock()


def _pool():
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            from concurrent.futures import ThreadPoolExecutor

            # two at a time: ingest and export are CPU-heavy and the web requests share the machine
            _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="jr-background")
        return _POOL


def _apply_in_thread(task, args) -> None:
    from django.db import connection

    try:
        task.apply(args=args)
    except Exception:  # noqa: BLE001 - the tasks record their own failures; this is the last guard
        log.exception("background task %s%r failed", task.name, tuple(args))
    finally:
        connection.close()  # this thread's own connection


def dispatch_on_commit(task, *calls) -> None:
    """Once the current transaction commits, run ``task`` once per argument tuple in ``calls``."""
    calls = [tuple(c) for c in calls]
    if settings.CELERY_TASK_ALWAYS_EAGER and settings.JEWELREVIEW.get("BACKGROUND_EAGER"):
        transaction.on_commit(lambda: [_pool().submit(_apply_in_thread, task, c) for c in calls])
    else:
        transaction.on_commit(lambda: [task.delay(*c) for c in calls])


def wait_idle(timeout: float = 30.0) -> None:
    """Block until what was queued on the pool before this call has run (tests, shutdown)."""
    _pool().submit(lambda: None).result(timeout)
