"""End-to-end fixtures: the app as it runs for a studio that outgrew one machine — PostgreSQL,
channels_redis, a RabbitMQ broker and a real Celery worker process, started here and stopped after.

Locally the tests skip when a service is not listening; under CI=true they fail (tests.services).
"""
from __future__ import annotations

import os
import secrets

import pytest

from tests.services import RABBITMQ_URL, require


@pytest.fixture(scope="session")
def pg_template():
    require("postgresql", "redis", "rabbitmq")
    from benchmarks.harness import PgDatabase

    tpl = PgDatabase.migrated_template()
    yield tpl.name
    tpl.drop()


@pytest.fixture
def live(tmp_path, pg_template):
    """daphne + one Celery worker (RabbitMQ broker, a queue of our own) on a fresh database."""
    from benchmarks.harness import Stack

    queue = f"jr-it-{os.getpid()}-{secrets.token_hex(3)}"  # other test runs may share the broker
    extra = {"CELERY_BROKER_URL": RABBITMQ_URL, "CELERY_QUEUE": queue}
    stack = Stack(workdir=tmp_path / "stack", template=pg_template)
    try:
        stack.worker("ingest", concurrency=2, queues=queue, **extra)
        server = stack.daphne(**extra)
        yield stack, server
    finally:
        stack.close()
        _drop_queue(queue)


def _drop_queue(queue: str) -> None:
    try:
        from kombu import Connection

        with Connection(RABBITMQ_URL, connect_timeout=3) as conn:
            conn.default_channel.queue_delete(queue)
    except Exception:  # noqa: BLE001 - a leftover empty queue is harmless
        pass
