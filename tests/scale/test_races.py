"""Concurrency on real PostgreSQL row locks (tests.scale.race_scenarios runs the threads).

* two reviewers appending to one image at the same instant, 1000 times (with retries racing
  their originals and undos mixed in): every acknowledged op is in the log exactly once, in one
  order, and every client that catches up renders the server's mask;
* two leads deciding at the same instant (approve vs send back, send to client vs send back):
  the workflow never ends in an impossible state.
"""
from __future__ import annotations

import json

import pytest

from tests.scale.checks import assert_log_consistent

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("scale")]


def run_scenario(stack, *args) -> dict:
    out = stack.python("-m", "tests.scale.race_scenarios", *map(str, args), timeout=240)
    return json.loads(out.strip().splitlines()[-1])


class _Frames:
    """A client's frames in the shape assert_log_consistent reads."""

    def __init__(self, name, rows, acks):
        self.name = name
        self.frames = {seq: {"seq": seq, "client_id": cid} for seq, cid, _ in rows}
        self.acks = acks

    def last_seq(self):
        n = 0
        while n + 1 in self.frames:
            n += 1
        return n


@pytest.mark.slow
def test_two_reviewers_editing_at_the_same_instant_1000_times(pg_stack, db_of):
    world = pg_stack.seed(reviewers=2, images=1, size="240x180")
    a, b = world["users"]["s-lead0"], world["users"]["s-lead1"]
    image = world["images"][0]
    rounds, retry_every, undo_every = 1000, 50, 97
    res = run_scenario(pg_stack, "edits", "--image", image, "--users", f"{a},{b}", "--rounds", rounds,
                       "--retry-every", retry_every, "--undo-every", undo_every, "--deadline", 150)
    assert not res["errors"], res["errors"][:5]
    acks = res["acks"]
    # a retry racing its original got the same seq: stored once, acknowledged twice
    originals = {cid: seq for cid, seq, _ in acks[0] + acks[1]}
    for cid, seq, _ in acks[2] + acks[3]:
        assert originals.get(cid) == seq, f"the racing retry of {cid} got {seq}, the original {originals.get(cid)}"
    assert len(acks[2]) == len(acks[3]) == rounds // retry_every
    undos = sum(1 for _, _, k in acks[0] if k == "undo")
    assert undos >= 1 and len(acks[1]) == rounds
    expected = 2 * rounds - (rounds // undo_every) + undos  # undo rounds add an undo instead of an op
    assert res["head_seq"] == len(originals) == expected
    # each reviewer's own acknowledgements come back in increasing order (one global order)
    for t in (0, 1):
        seqs = [s for _, s, _ in acks[t]]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    db = db_of(pg_stack)
    clients = [_Frames(n, rows, {}) for n, rows in res["clients"].items()]
    clients[0].acks = originals
    assert_log_consistent(db, image, clients)
    assert res["clients"]["c1"] == res["clients"]["c2"]
    assert all(r["equal_to_server"] for r in res["renders"].values()), res["renders"]
    print(f"\n{len(originals)} acknowledged edits from 2 reviewers in {res['seconds']:.1f} s")


@pytest.mark.slow
def test_two_leads_deciding_at_once_never_reach_an_impossible_state(pg_stack):
    world = pg_stack.seed(reviewers=2, images=1, size="120x90")
    a, b = world["users"]["s-lead0"], world["users"]["s-lead1"]
    image = world["images"][0]
    res = run_scenario(pg_stack, "workflow", "--image", image, "--users", f"{a},{b}", "--rounds", 60, "--deadline", 150)
    assert not res["errors"], res["errors"]
    for o in res["outcomes"]:
        results = o["results"]
        assert not any(r is None or r.startswith("ERROR") for r in results), o
        ok = [r == "ok" for r in results]
        assert any(ok), f"nobody's decision went through: {o}"
        # whatever the interleaving, the lead who sent back wins in the end: the other decision
        # was either refused (it came second) or overruled by the send-back (it came first)
        assert o["state"] == "changes_requested", o
        assert ok[1], f"send back is allowed from both outcomes of the other decision: {o}"
        assert o["live_approvals"] == [] and not o["approved_at"], f"an approval survived a send-back: {o}"
    orders = {tuple(o["results"]) for o in res["outcomes"]}
    print(f"\ninterleavings seen: {sorted(orders)}")
    # the audit trail is one unbroken chain: each transition starts where the previous one ended
    chain = res["audit"]
    for prev, cur in zip(chain, chain[1:]):
        assert cur[1] == prev[2], f"audit chain broken: {prev} then {cur}"
    assert chain[-1][2] == res["final"]
