"""Reaching the real services integration tests use.

Locally a test that needs PostgreSQL, Redis or RabbitMQ skips with the reason when the service
is not listening; under ``CI=true`` it fails instead, so a missing service cannot hide.
"""
from __future__ import annotations

import os
import socket

import pytest

SERVICES = {
    "postgresql": ("127.0.0.1", 5432),
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
}

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/jewelreview_test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def listening(name: str, timeout: float = 0.5) -> bool:
    host, port = SERVICES[name]
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(*names: str) -> None:
    """Skip (locally) or fail (under CI=true) unless every named service is listening."""
    missing = [n for n in names if not listening(n)]
    if not missing:
        return
    host_ports = ", ".join(f"{n} on {SERVICES[n][0]}:{SERVICES[n][1]}" for n in missing)
    if in_ci():
        pytest.fail(f"CI=true but {host_ports} is not reachable; integration tests must run in CI")
    pytest.skip(f"{host_ports} is not reachable (start it to run this integration test)")
