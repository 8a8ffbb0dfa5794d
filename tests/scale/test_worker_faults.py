"""Celery workers killed in the middle of an ingest or a full render (late acknowledgement).

The worker (benchmarks.worker) stops at a chosen ``os.replace`` — the moment a finished
temporary file is about to be renamed into place — and the test SIGKILLs it there. Then:
the task is redone (by the same worker's next pool process, or by another worker after the
broker's visibility timeout), nothing half-written ever appears under a final name or is served
over HTTP, and the image ends in the right state with its outputs exactly once.
"""
from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.harness import http, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("scale")]

SIZE = "480x360"


def decodes(body: bytes) -> bool:
    from PIL import Image as PILImage

    try:
        with PILImage.open(io.BytesIO(body)) as im:
            im.load()  # a truncated file fails here
        return True
    except Exception:  # noqa: BLE001 - any decoder complaint = not a whole image
        return False


class Prober:
    """Fetches an image's file-backed URLs over HTTP in a loop (bounded) while the fault plays
    out; records every 200 whose body is not a complete image."""

    def __init__(self, server, session: str, image_id: int, seconds: float = 60):
        t = f"/images/{image_id}/tiles"
        self.urls = [f"{server.http}{u}" for u in (
            f"/images/{image_id}/original/", f"/images/{image_id}/thumb.jpg", f"/images/{image_id}/qa-heatmap.png",
            f"{t}/original/0/0_0.jpeg", f"{t}/mask/0/0/0_0.png", f"{t}/cutout/0/0/0_0.png",
            f"/images/{image_id}/revisions/0/mask.png",
        )]
        self.session, self.stop_at = session, time.monotonic() + seconds
        self.ok = self.bad = self.requests = 0
        self.broken: list[str] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.is_set() and time.monotonic() < self.stop_at and self.requests < 5000:
            for url in self.urls:
                status, _, body = http("GET", url, self.session, timeout=30)
                self.requests += 1
                if status == 200:
                    if decodes(body):
                        self.ok += 1
                    else:
                        self.broken.append(url)
            time.sleep(0.02)

    def finish(self):
        self.done.set()
        self.thread.join(timeout=40)


def final_files_complete(folder: Path) -> list[str]:
    """Every image-like file under its final name decodes; returns the names of broken ones."""
    broken = []
    for p in folder.rglob("*"):
        if p.is_file() and not p.name.startswith(".tmp-") and p.suffix.lower() in (".png", ".jpeg", ".jpg"):
            if not decodes(p.read_bytes()):
                broken.append(str(p))
    return broken


def ingest_state(db, image_id):
    return db.rows("SELECT state, ingest_attempts, base_alpha, tiles_prefix, error FROM reviews_image WHERE id=%s",
                   image_id)[0]


def assert_ingested_once(stack, db, image_id, attempts_at_least=2):
    state, attempts, base_alpha, prefix, error = ingest_state(db, image_id)
    assert state == "ready_for_retouch", (state, error)
    assert attempts >= attempts_at_least, f"the task ran {attempts} time(s); it should have been redone"
    assert decodes((stack.media / base_alpha).read_bytes())
    assert (stack.media / prefix / "original.dzi").exists() and (stack.media / prefix / "cutout.dzi").exists()
    assert db.value("SELECT count(*) FROM reviews_auditevent WHERE image_id=%s AND action='ingested'", image_id) == 1
    # findings were replaced, not appended, by the second run
    kinds = db.rows("SELECT kind, x, y, w, h FROM reviews_qafinding WHERE image_id=%s", image_id)
    assert len(kinds) == len(set(kinds)), "QA findings stored twice"


def paused(marker: Path, timeout: float = 90) -> int:
    """Wait until the worker stopped before its rename; the pid of the process that did."""
    wait_until(marker.exists, timeout, 0.05, "the worker reaching the rename")
    return int(marker.read_text().split()[0])


@pytest.mark.slow
def test_pool_process_killed_mid_ingest_task_is_redone(stack, db_of, tmp_path):
    marker = tmp_path / "paused"
    world = stack.seed(reviewers=1, images=1, size=SIZE, ingest=True, enqueue=0)
    image_id = world["images"][0]
    worker = stack.worker("w1", JR_FAULT_PAUSE_BEFORE_RENAME="*/base_alpha*.png", JR_FAULT_MARKER=marker)
    server = stack.daphne("daphne-1")
    db = db_of(stack)
    stack.python("-c", f"import django; django.setup(); from reviews.services.ingest import enqueue_ingest; "
                       f"from django.db import transaction\nwith transaction.atomic(): enqueue_ingest([{image_id}])",
                 env=stack.env(DJANGO_SETTINGS_MODULE="jewelreview.settings"))
    pid = paused(marker)
    assert pid != worker.pid and pid in worker.children(), "the pool process, not the main one, is working"
    folder = stack.media / f"collections/{world['collection']}/images/{image_id}"
    assert not list(folder.glob("base_alpha*.png")), "the final name exists before the rename"
    assert any(p.name.startswith(".tmp-") for p in folder.iterdir()), "the data is not in a temporary file"
    probe = Prober(server, world["sessions"]["s-lead0"], image_id)
    os.kill(pid, 9)  # the OOM killer's way: the pool process dies, the main process sees it
    wait_until(lambda: ingest_state(db, image_id)[0] == "ready_for_retouch", 120, 0.2, "ingest redone")
    probe.finish()
    assert_ingested_once(stack, db, image_id)
    assert not probe.broken, f"half-written files were served: {probe.broken[:5]}"
    assert not final_files_complete(folder)
    assert worker.alive(), "the worker itself survived its pool process"


@pytest.mark.slow
def test_whole_worker_killed_mid_ingest_another_worker_redoes_it(stack, db_of, tmp_path):
    marker = tmp_path / "paused"
    world = stack.seed(reviewers=1, images=1, size=SIZE, ingest=True, enqueue=0)
    image_id = world["images"][0]
    a = stack.worker("wa", JR_FAULT_PAUSE_BEFORE_RENAME="*/qa_heatmap.png", JR_FAULT_MARKER=marker,
                     CELERY_VISIBILITY_TIMEOUT=3)
    db = db_of(stack)
    stack.python("-c", f"import django; django.setup(); from reviews.services.ingest import enqueue_ingest; "
                       f"from django.db import transaction\nwith transaction.atomic(): enqueue_ingest([{image_id}])")
    paused(marker)
    assert ingest_state(db, image_id)[0] == "processing"
    a.kill()  # main process and pool together: nobody is left to reject the message
    b = stack.worker("wb", CELERY_VISIBILITY_TIMEOUT=3)
    wait_until(lambda: ingest_state(db, image_id)[0] == "ready_for_retouch", 120, 0.2,
               "ingest redone by the other worker")
    assert_ingested_once(stack, db, image_id)
    folder = stack.media / f"collections/{world['collection']}/images/{image_id}"
    assert not final_files_complete(folder)
    assert b.alive()


@pytest.mark.slow
async def test_pool_process_killed_mid_full_render_render_is_redone(stack, db_of, tmp_path, reviewers):
    """A refine op changes the whole frame: its full render goes to Celery. Kill the worker just
    before the render file is renamed into place; the render is redone and equals the core's."""
    from tests.scale.checks import base_alpha, client_render, server_render

    marker = tmp_path / "paused"
    world = stack.seed(reviewers=1, images=1, size=SIZE)
    image_id, session = world["images"][0], world["sessions"]["s-lead0"]
    worker = stack.worker("w1", JR_FAULT_PAUSE_BEFORE_RENAME="*/renders/*.png", JR_FAULT_MARKER=marker)
    server = stack.daphne("daphne-1")
    db = db_of(stack)
    rv = reviewers("a", session, image_id, [server.ws])
    await rv.connect()
    seq = await rv.edit({"type": "refine", "shift_edge": 1.5, "contrast": 20, "feather": 0, "smooth": 0})
    await rv.wait_for_seq(seq)
    pid = paused(marker)
    folder = stack.media / f"collections/{world['collection']}/images/{image_id}/renders"
    final = folder / f"{seq:08d}.png"
    assert not final.exists()
    os.kill(pid, 9)
    wait_until(final.exists, 120, 0.1, "the full render redone")
    expected = client_render(base_alpha(stack, db, image_id), rv.frames, seq)
    from masks.imageio import decode_png

    assert np.array_equal(decode_png(final.read_bytes()), expected)
    assert np.array_equal(server_render(server, session, image_id, seq), expected)
    assert not final_files_complete(folder)
    assert worker.alive()
