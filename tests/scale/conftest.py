"""Fixtures of the scale tests: a real stack (fresh PostgreSQL database, a private Redis on a spare
loopback port, daphne and Celery worker processes) that is torn down after each use.

Locally these skip without PostgreSQL/Redis; under CI=true they fail instead (tests.services).
Every process is started in its own session and killed by its process-group id in teardown.
"""
from __future__ import annotations

import shutil

import psycopg
import pytest

from tests.services import in_ci, require


def _require_stack() -> None:
    require("postgresql", "redis")
    if shutil.which("redis-server") is None:
        msg = "redis-server is not installed (the scale tests start a private one on a spare port)"
        pytest.fail(msg) if in_ci() else pytest.skip(msg)


@pytest.fixture(scope="session")
def pg_template():
    """One migrated database per test session; each test's database is a copy of it."""
    _require_stack()
    from benchmarks.harness import PgDatabase

    tpl = PgDatabase.migrated_template()
    yield tpl.name
    tpl.drop()


@pytest.fixture
def stack(tmp_path, pg_template):
    """A fresh stack per test (faults break it on purpose): its own database, Redis, media."""
    from benchmarks.harness import Stack

    s = Stack(workdir=tmp_path / "stack", template=pg_template)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def pg_stack(tmp_path, pg_template):
    """Only a database (a clone of the template) and media: for races that need no servers."""
    from benchmarks.harness import Stack

    s = Stack(workdir=tmp_path / "stack", template=pg_template, redis=False)
    try:
        yield s
    finally:
        s.close()


class Db:
    """Plain SQL on the stack's database from the test process (Django's test DB is elsewhere)."""

    def __init__(self, url: str):
        self.conn = psycopg.connect(url, autocommit=True, connect_timeout=5)

    def rows(self, sql: str, *params):
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def value(self, sql: str, *params):
        rows = self.rows(sql, *params)
        return rows[0][0] if rows else None

    def ops(self, image_id: int) -> list[tuple]:
        """(seq, author_id, client_id, kind) of an image's log, in seq order."""
        return self.rows("SELECT seq, author_id, client_id, kind FROM reviews_operation WHERE image_id=%s "
                         "ORDER BY seq", image_id)

    def close(self):
        self.conn.close()


@pytest.fixture
def db_of():
    opened = []

    def make(stack) -> Db:
        d = Db(stack.db.url())
        opened.append(d)
        return d

    yield make
    for d in opened:
        d.close()


@pytest.fixture
async def reviewers():
    """``make(name, session, image_id, servers, **kw)`` → a connected-later Reviewer; all are
    closed at teardown, whatever the test did."""
    from benchmarks.wsclient import Reviewer

    made = []

    def make(*args, **kwargs) -> Reviewer:
        rv = Reviewer(*args, **kwargs)
        made.append(rv)
        return rv

    yield make
    for rv in made:
        await rv.close()
