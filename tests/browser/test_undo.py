"""Undo per person through the editor's own keys (issue 9, Undo and redo per person): two
people paint on one image, each one's Ctrl+Z reverts only their own last stroke, and both
pages end on the same server tiles. Screenshots in test-artifacts/."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from tests.browser.conftest import login, open_editor, shot, wait_tiles
from tests.browser.test_editor import to_page

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


def mask(page, app, image_id, seq):
    res = page.request.get(f"{app.url}/images/{image_id}/revisions/{seq}/mask.png")
    assert res.status == 200, res.status
    return np.asarray(PILImage.open(io.BytesIO(res.body())).convert("L"))


def remove_stroke(page, start, length=30):
    """A remove stroke (image px) from ``start`` to the right, with the brush as it is set."""
    page.focus("#jr-stage")
    page.keyboard.press("b")
    if page.evaluate("window.jrEditor.tools.brush.mode") != "remove":
        page.keyboard.press("x")
    page.mouse.move(*to_page(page, *start))
    page.mouse.down()
    page.mouse.move(*to_page(page, start[0] + length, start[1]), steps=8)
    page.mouse.up()
    page.wait_for_function("window.jrEditor.pending.size === 0")


def test_each_persons_undo_reverts_only_their_own_last_stroke(browser, live_app):
    app, image_id = live_app, live_app.seed["grid"]["ring-b.png"]
    ctx_r, ret = login(browser, app, "retoucher1")
    ctx_l, lead = login(browser, app, "lead")
    try:
        open_editor(ret, app, image_id)
        open_editor(lead, app, image_id)
        head0 = ret.evaluate("window.jrEditor.socket.lastSeq")
        base = mask(ret, app, image_id, head0)
        solid = np.argwhere(base == 255)  # solid metal rows, far apart, for the two strokes
        ys = np.unique(solid[:, 0])
        mine_y, theirs_y = int(ys[len(ys) // 4]), int(ys[3 * len(ys) // 4])
        mine = (float(solid[solid[:, 0] == mine_y][0, 1]) + 0.5, mine_y + 0.5)
        theirs = (float(solid[solid[:, 0] == theirs_y][0, 1]) + 0.5, theirs_y + 0.5)

        remove_stroke(ret, mine)
        remove_stroke(lead, theirs)
        for page in (ret, lead):
            page.wait_for_function(f"window.jrEditor.socket.lastSeq === {head0 + 2}")
        both = mask(ret, app, image_id, head0 + 2)
        near = lambda p: (slice(int(p[1]) - 2, int(p[1]) + 3), slice(int(p[0]) + 5, int(p[0]) + 25))  # noqa: E731
        assert (both[near(mine)] < base[near(mine)]).any() and (both[near(theirs)] < base[near(theirs)]).any()

        # the retoucher's Ctrl+Z takes back the retoucher's stroke, not the lead's later one
        ret.focus("#jr-stage")
        ret.keyboard.press("Control+z")
        for page in (ret, lead):
            page.wait_for_function(f"window.jrEditor.socket.lastSeq === {head0 + 3} && window.jrEditor.viewer.revs.head === {head0 + 3}")
        after = mask(ret, app, image_id, head0 + 3)
        assert (after[near(mine)] == base[near(mine)]).all()
        assert (after[near(theirs)] == both[near(theirs)]).all()

        # both pages end on the same render: the same server tiles for the same view
        for page in (ret, lead):
            page.evaluate("window.jrEditor.viewer.fit()")
            wait_tiles(page)
        assert ret.evaluate("window.jrEditor.viewer.visibleMaskUrls()") == lead.evaluate("window.jrEditor.viewer.visibleMaskUrls()")
        shot(ret, "undo-retoucher-after-own-undo")

        # and the lead's Ctrl+Z takes back the lead's stroke: the mask is as it started
        lead.focus("#jr-stage")
        lead.keyboard.press("Control+z")
        for page in (ret, lead):
            page.wait_for_function(f"window.jrEditor.socket.lastSeq === {head0 + 4}")
        assert (mask(lead, app, image_id, head0 + 4) == base).all()
        wait_tiles(lead)
        shot(lead, "undo-lead-after-both-undos")
    finally:
        ctx_r.close()
        ctx_l.close()
