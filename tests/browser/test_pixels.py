"""At 800 %: the brush cursor is the server's footprint, and image pixels stay hard squares
(issue 9 acceptance). Screenshots in test-artifacts/."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image as PILImage

from tests.browser.conftest import login, open_editor, shot, wait_tiles
from tests.browser.test_editor import to_page

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


def test_800_percent_cursor_matches_footprint_and_pixels_are_unsmoothed(browser, live_app):
    app, image_id = live_app, live_app.seed["pixels"]
    ctx, page = login(browser, app, "retoucher1")
    try:
        open_editor(page, app, image_id)
        page.click("[data-mode=original]")  # the photo itself, where every pixel differs
        page.focus("#jr-stage")  # the keyboard does the rest
        page.keyboard.press("b")
        for _ in range(12):
            page.keyboard.press("+")  # clamps at 800 %
        assert page.inner_text("#jr-zoom") == "800 %"
        for _ in range(5):
            page.keyboard.press("[")  # 8 → 6.5 → 5 → 4 → 3.5 → 3 px
        assert page.inner_text("#jr-radius-out") == "3 px"
        page.fill("#jr-hardness", "1")
        page.dispatch_event("#jr-hardness", "input")
        page.evaluate("window.jrEditor.viewer.centreOn(192, 128)")
        wait_tiles(page)
        page.mouse.move(1200, 300)  # off the picture: no cursor
        stage = page.locator("#jr-stage").bounding_box()
        clip = {"x": stage["x"], "y": stage["y"], "width": stage["width"], "height": stage["height"]}
        page.screenshot(path=str(shot(page, "pixels-800")), clip=clip)
        plain = np.asarray(PILImage.open("test-artifacts/pixels-800.png").convert("RGB")).astype(int)

        # one image pixel = one 8x8 block of identical screen pixels (no smoothing between neighbours)
        ox, oy = to_page(page, 0, 0)
        ox, oy = ox - stage["x"], oy - stage["y"]
        uniform, edges = 0, 0
        for iy in range(112, 144):
            for ix in range(176, 208):
                x0, y0 = int(round(ox + ix * 8)), int(round(oy + iy * 8))
                block = plain[y0 + 1:y0 + 7, x0 + 1:x0 + 7]  # the 1-px grid line sits on the border
                assert block.size and (block.max(axis=(0, 1)) - block.min(axis=(0, 1))).max() == 0, (ix, iy)
                uniform += 1
                right = plain[y0 + 3, x0 + 9]
                edges += int(np.abs(right - plain[y0 + 3, x0 + 6]).max() > 40)
        assert uniform == 32 * 32 and edges > 100  # hard steps between neighbours of different value

        # the cursor outline under the pointer, found as what the cursor adds to the screen
        cx, cy = 200.5, 120.5  # image px (a pixel centre)
        page.mouse.move(*to_page(page, cx, cy))
        page.screenshot(path="test-artifacts/pixels-800-cursor.png", clip=clip)
        with_cursor = np.asarray(PILImage.open("test-artifacts/pixels-800-cursor.png").convert("RGB")).astype(int)
        drawn = np.abs(with_cursor - plain).max(axis=2) > 0
        ring = np.argwhere(drawn & (with_cursor.min(axis=2) >= 250))  # the white outline itself
        every = np.argwhere(drawn)  # outline + its dark halo: complete all round, for the centre
        centre = ((every[:, 1].mean() + 0.5 - ox) / 8, (every[:, 0].mean() + 0.5 - oy) / 8)
        sx, sy = to_page(page, *centre)
        d = np.hypot(ring[:, 1] + 0.5 - (sx - stage["x"]), ring[:, 0] + 0.5 - (sy - stage["y"]))
        cursor_r = float(np.median(d)) / 8  # image px

        # one dab there; the server renders it
        page.mouse.down()
        page.mouse.up()
        page.wait_for_function("window.jrEditor.pending.size === 0")
        wait_tiles(page)
        shot(page, "pixels-800-dab")
        head = page.evaluate("window.jrEditor.socket.lastSeq")
        assert head == 1
        res = page.request.get(f"{app.url}/images/{image_id}/revisions/{head}/mask.png")
        mask = np.asarray(PILImage.open(io.BytesIO(res.body())).convert("L")).astype(float) / 255  # base is empty
        area = mask.sum()  # total coverage of a hard dab = π r² (masks.render.stroke_profile)
        server_r = float(np.sqrt(area / np.pi))
        ys, xs = np.mgrid[0:mask.shape[0], 0:mask.shape[1]]
        server_centre = ((mask * (xs + 0.5)).sum() / area, (mask * (ys + 0.5)).sum() / area)
        assert abs(cursor_r - server_r) <= 0.5, (cursor_r, server_r)
        assert abs(cursor_r - 3) <= 0.5
        assert np.hypot(centre[0] - server_centre[0], centre[1] - server_centre[1]) <= 0.5, (centre, server_centre)
        assert abs(server_centre[0] - cx) < 0.05 and abs(server_centre[1] - cy) < 0.05

        # the connection drops; what is drawn meanwhile is kept and lands after the page catches up
        page.evaluate("window.jrEditor.socket.drop()")
        page.wait_for_function("window.jrEditor.socket.state !== 'open'")
        page.mouse.move(*to_page(page, 190.5, 130.5))
        page.mouse.down()
        page.mouse.up()
        assert page.evaluate("window.jrEditor.pending.size") == 1  # still shown as a local preview
        page.wait_for_function("window.jrEditor.socket.state === 'open' && window.jrEditor.pending.size === 0")
        assert page.evaluate("window.jrEditor.socket.lastSeq") == 2
        shot(page, "pixels-800-after-reconnect")
    finally:
        ctx.close()
