"""What every scale/fault test asserts about the edit log after the dust settles.

* the stored log is seq 1..N without gaps, each (author, client_id) once;
* every acknowledged edit is in it exactly once, under the seq it was acknowledged with;
* every client has the same frames as the database, in the same order;
* the mask every client renders from its frames equals the server's render, byte for byte.
"""
from __future__ import annotations

import io

import numpy as np

from benchmarks.harness import http


def assert_log_consistent(db, image_id: int, reviewers) -> list[tuple]:
    rows = db.ops(image_id)
    seqs = [r[0] for r in rows]
    assert seqs == list(range(1, len(rows) + 1)), f"gaps or repeats in the log: {seqs[:20]}…"
    keys = [(r[1], r[2]) for r in rows]
    assert len(set(keys)) == len(keys), "an (author, client_id) stored twice"
    by_cid = {r[2]: r[0] for r in rows}
    head = db.value("SELECT head_seq FROM reviews_image WHERE id=%s", image_id)
    assert head == len(rows), f"head_seq {head} but {len(rows)} entries"
    for rv in reviewers:
        for cid, seq in rv.acks.items():
            assert by_cid.get(cid) == seq, f"{rv.name}: acknowledged {cid} as seq {seq}, stored as {by_cid.get(cid)}"
        assert rv.last_seq() >= head, f"{rv.name} has frames up to {rv.last_seq()} of {head}"
        seen = [(rv.frames[s]["seq"], rv.frames[s]["client_id"]) for s in range(1, head + 1)]
        assert seen == [(r[0], r[2]) for r in rows], f"{rv.name} saw another order than the database"
    return rows


def client_render(base_alpha: np.ndarray, frames: dict, upto: int) -> np.ndarray:
    """What a page shows for revision ``upto``: the core renderer over its own frames."""
    from masks import log as mlog
    from masks.ops import parse_op
    from masks.render import render

    entries = []
    for s in range(1, upto + 1):
        f = frames[s]
        if f["kind"] == "op":
            entries.append(mlog.LogEntry(seq=s, author=f["author"]["id"], kind="op", op=parse_op(f["op"]), target=None))
        else:
            entries.append(mlog.LogEntry(seq=s, author=f["author"]["id"], kind=f["kind"], op=None, target=f["target"]))
    return render(base_alpha, mlog.active_ops(entries))


def server_render(server, session: str, image_id: int, rev: int) -> np.ndarray:
    from PIL import Image as PILImage

    status, headers, body = http("GET", f"{server.http}/images/{image_id}/revisions/{rev}/mask.png", session, timeout=60)
    assert status == 200, (status, body[:300])
    with PILImage.open(io.BytesIO(body)) as im:
        return np.asarray(im.convert("L"))


def base_alpha(stack, db, image_id: int) -> np.ndarray:
    from masks.imageio import decode_png

    name = db.value("SELECT base_alpha FROM reviews_image WHERE id=%s", image_id)
    return decode_png((stack.media / name).read_bytes())


def assert_renders_identical(stack, db, image_id: int, reviewers, servers, session: str) -> np.ndarray:
    head = db.value("SELECT head_seq FROM reviews_image WHERE id=%s", image_id)
    base = base_alpha(stack, db, image_id)
    renders = [client_render(base, rv.frames, head) for rv in reviewers]
    for rv, r in zip(reviewers[1:], renders[1:]):
        assert np.array_equal(renders[0], r), f"{reviewers[0].name} and {rv.name} render differently"
    for server in servers:
        assert np.array_equal(server_render(server, session, image_id, head), renders[0]), \
            f"the server on {server.port} renders revision {head} differently"
    return renders[0]
