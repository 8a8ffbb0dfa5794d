"""The review screen in real Chromium, acting as the users (issue 6 acceptance).

One live server (daphne + websockets) for the module; every test saves screenshots to
test-artifacts/ (git-ignored) — look at them.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageDraw

from tests.browser.conftest import login, open_editor, shot, wait_tiles

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


def to_page(page, x, y):
    """Page coordinates (CSS px) of image point (x, y) in the first pane."""
    return page.evaluate("""([x, y]) => { const v = window.jrEditor.viewer, r = v.root.getBoundingClientRect();
        const [sx, sy] = v.toScreen(x, y); return [r.left + v.panes[0].x + sx, r.top + sy]; }""", [x, y])


def mask_png(page, app, image_id, seq):
    res = page.request.get(f"{app.url}/images/{image_id}/revisions/{seq}/mask.png")
    assert res.status == 200, res.status
    return np.asarray(PILImage.open(io.BytesIO(res.body())).convert("L"))


def polygon_mask(points, shape):
    im = PILImage.new("L", (shape[1], shape[0]), 0)
    # PIL fills pixels whose centres are inside; shift by -0.5 from pixel-corner coordinates
    ImageDraw.Draw(im).polygon([(x - 0.5, y - 0.5) for x, y in points], fill=255)
    return np.asarray(im) > 0


def screen_pixel(png_path, xy):
    return np.asarray(PILImage.open(png_path).convert("RGB"))[int(xy[1]), int(xy[0])]


def test_retoucher_cuts_negative_space_and_restores_a_prong_and_others_see_it_live(browser, live_app):
    app, seed, image_id = live_app, live_app.seed, live_app.seed["chain"]
    ctx_r, page = login(browser, app, "retoucher1")
    ctx_l, lead = login(browser, app, "lead")
    try:
        open_editor(page, app, image_id)
        open_editor(lead, app, image_id)
        lead.select_option("#jr-matte", "black")
        lead.click("button.jr-finding[data-kind=trapped_background]")  # the lead looks at the same link
        wait_tiles(lead)
        inside = np.argwhere(polygon_mask(seed["hole_outline"], (600, 900)))
        hy, hx = inside[len(inside) // 2]
        probe = (hx + 0.5, hy + 0.5)
        before = shot(lead, "editor-lead-before")
        assert screen_pixel(before, to_page(lead, *probe)).min() > 200  # studio paper, still in the mask

        # the retoucher jumps to the finding (300 %) and cuts the link's negative space with the pen
        page.click("button.jr-finding[data-kind=trapped_background]")
        wait_tiles(page)
        assert page.evaluate("window.jrEditor.viewer.scale") == 3
        page.keyboard.press("p")
        page.select_option("#jr-penmode", "subtract")
        pts = seed["hole_outline"]
        for x, y in pts + [pts[0]]:  # clicking the first anchor again closes the path
            page.mouse.click(*to_page(page, x, y))
        assert page.evaluate("window.jrEditor.tools.pen.subs[0].closed")
        shot(page, "editor-pen-path")
        page.click("#jr-pen-apply")
        page.wait_for_function("window.jrEditor.pending.size === 0")

        # then restores the clipped end of the chain with a keep brush
        page.click("button.jr-finding[data-kind=clipped_detail]")
        wait_tiles(page)
        page.keyboard.press("b")
        for _ in range(2):
            page.keyboard.press("[")  # 8 -> 6.5 -> 5 px
        assert page.inner_text("#jr-radius-out") == "5 px"
        line = seed["prong_line"]
        page.mouse.move(*to_page(page, *line[0]))
        page.mouse.down()
        for x, y in line[1:]:
            page.mouse.move(*to_page(page, x, y), steps=4)
        page.mouse.up()
        shot(page, "editor-brush-preview")
        page.wait_for_function("window.jrEditor.pending.size === 0")
        wait_tiles(page)
        shot(page, "editor-brush-done")
        head = page.evaluate("window.jrEditor.socket.lastSeq")
        assert head == 2

        # the saved mask changed exactly there
        base, now = mask_png(page, app, image_id, 0), mask_png(page, app, image_id, head)
        changed = base != now
        hole_poly = polygon_mask(pts, base.shape)
        from scipy import ndimage as ndi

        assert (now[ndi.binary_erosion(hole_poly, iterations=2)] == 0).all()  # cut out inside the path
        r = 5
        xs, ys = [p[0] for p in line], [p[1] for p in line]
        stroke_box = np.zeros_like(changed)
        stroke_box[int(min(ys) - r - 1):int(max(ys) + r + 2), int(min(xs) - r - 1):int(max(xs) + r + 2)] = True
        near_path = ndi.binary_dilation(hole_poly, structure=np.ones((3, 3)), iterations=1)
        stray = np.argwhere(changed & ~near_path & ~stroke_box)
        assert not len(stray), f"changed outside the edits at (y, x) {stray[:10].tolist()}"
        for x, y in line:  # the prong's centre line is object again
            assert now[int(y), int(x)] == 255
        assert changed[stroke_box].sum() > 40 and changed[hole_poly].sum() > 0.8 * hole_poly.sum()

        # the lead saw both edits without reloading
        lead.wait_for_function(f"window.jrEditor.socket.lastSeq === {head} && window.jrEditor.viewer.revs.head === {head}")
        wait_tiles(lead)
        after = shot(lead, "editor-lead-after")
        assert screen_pixel(after, to_page(lead, *probe)).max() < 30  # now the black matte shows through
        assert lead.evaluate("window.jrEditor.remote.size") == 0  # previews replaced by server tiles
        names = lead.inner_text("#jr-presence")
        assert "Retoucher1" in names and "Lead (you)" in names
    finally:
        ctx_r.close()
        ctx_l.close()


def test_client_approves_and_the_lead_dashboard_shows_it(browser, live_app):
    app = live_app
    ctx_c, page = login(browser, app, "client_a")
    ctx_l, lead = login(browser, app, "lead")
    try:
        open_editor(page, app, app.seed["approve"])
        assert page.locator("[data-tool=brush]").count() == 0  # clients do not edit
        with page.expect_response(lambda r: "/approve/" in r.url) as resp:
            page.click("button.jr-decide-approve")
        assert resp.value.status == 200, resp.value.text()[:300]
        page.wait_for_load_state()
        page.wait_for_function("window.jrEditor && document.querySelector('#jr-state').dataset.state === 'approved'")
        wait_tiles(page)  # the screenshot shows the approved cutout, not an empty matte
        shot(page, "client-approved")
        lead.goto(f"{app.url}/dashboard/lead/")
        row = lead.locator("tr", has_text="Rings for approval")
        assert "1/1" in row.inner_text()
        shot(lead, "lead-dashboard-after-approval")
    finally:
        ctx_c.close()
        ctx_l.close()


def test_client_cannot_open_another_organisations_image(browser, live_app):
    app = live_app
    ctx, page = login(browser, app, "client_a")
    try:
        res = page.goto(f"{app.url}/images/{app.seed['foreign']}/editor/")
        assert res.status == 404
        shot(page, "client-foreign-404")
        assert page.request.get(f"{app.url}/images/{app.seed['foreign']}/tiles/original/9/0_0.jpeg").status == 404
        frames = page.evaluate("""(id) => new Promise((done) => {
            const got = [], ws = new WebSocket(`ws://${location.host}/ws/images/${id}/`);
            ws.onmessage = (e) => got.push(JSON.parse(e.data));
            ws.onclose = (e) => done({ code: e.code, got });
        })""", app.seed["foreign"])
        assert frames["code"] == 4403 and [f["type"] for f in frames["got"]] == ["error"]
    finally:
        ctx.close()
