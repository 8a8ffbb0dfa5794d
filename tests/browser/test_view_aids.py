"""Issue 9's view aids in real Chromium: the pixel grid from 800 %, the crisp mask-edge outline
toggle, and the stroke stabiliser (off by default, remembered per person). Screenshots in
test-artifacts/."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from tests.browser.conftest import login, open_editor, shot, wait_tiles

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


def stage_shot(page, name):
    box = page.locator("#jr-stage").bounding_box()
    path = shot(page, name)
    page.screenshot(path=str(path), clip=box)
    return np.asarray(PILImage.open(path).convert("RGB")).astype(int)


def toggled(page, key, name):
    page.focus("#jr-stage")
    page.keyboard.press(key)
    page.wait_for_timeout(100)  # two frames
    return stage_shot(page, name)


def test_pixel_grid_from_800_percent_and_crisp_edge_outline(browser, live_app):
    app, seed = live_app, live_app.seed
    ctx, page = login(browser, app, "retoucher1")
    try:
        open_editor(page, app, seed["chain"])
        page.click("[data-mode=mask]")
        x, y, w, h = seed["prong_bbox"]
        for zoom in (4, 8):
            page.evaluate("([x, y, z]) => window.jrEditor.viewer.centreOn(x, y, z)", [x, y + h / 2, zoom])
            wait_tiles(page)
            with_grid = stage_shot(page, f"grid-on-{zoom * 100}")
            without = toggled(page, "g", f"grid-off-{zoom * 100}")
            page.keyboard.press("g")  # back on
            changed = np.abs(with_grid - without).max(axis=2) > 0
            cols = np.nonzero(changed.mean(axis=0) > 0.9)[0]  # vertical lines: changed top to bottom
            if zoom == 4:
                assert not changed.any(), "no pixel grid below 800 %"
            else:  # one line per image pixel: every 8 screen px
                assert len(cols) > 50 and set(np.diff(cols)) == {8}, sorted(set(np.diff(cols)))

        # the mask's edge as a cyan outline, only while the toggle is on
        page.keyboard.press("g")  # grid off: it would blend into the outline
        page.wait_for_timeout(100)
        plain = stage_shot(page, "edge-off-800")
        edged = toggled(page, "e", "edge-on-800")
        assert page.is_checked("#jr-edge")

        def cyanish(img):
            return (img[..., 0] < 160) & (img[..., 1] > 100) & (img[..., 2] > 120) & (img[..., 2] - img[..., 0] > 80)

        assert not cyanish(plain).any()
        line = cyanish(edged)
        assert line.sum() > 200, line.sum()
        # crisp: the outline's pixels are the outline colour itself, not blends with neighbours
        pure = (np.abs(edged - np.array([0, 229, 255])).max(axis=2) <= 2) & line
        assert pure.sum() >= 0.95 * line.sum(), (pure.sum(), line.sum())
        # and it lies on the mask's edge: object on one side, background on the other
        inside = plain.mean(axis=2) > 127
        ys, xs = np.nonzero(line[8:-8, 8:-8])
        ys, xs = ys + 8, xs + 8
        across = (inside[ys, xs - 4] != inside[ys, xs + 4]) | (inside[ys - 4, xs] != inside[ys + 4, xs])
        assert across.mean() > 0.9, across.mean()
    finally:
        ctx.close()


def test_stabiliser_is_off_by_default_and_remembered_per_person(browser, live_app):
    app, seed = live_app, live_app.seed
    ctx, page = login(browser, app, "retoucher1")
    try:
        open_editor(page, app, seed["pixels"])
        page.keyboard.press("b")
        assert page.input_value("#jr-stab") == "0" and page.inner_text("#jr-stab-out") == "off"
        page.fill("#jr-stab", "24")
        page.dispatch_event("#jr-stab", "input")
        assert page.inner_text("#jr-stab-out") == "24 px"

        # with the string at 24 screen px the brush trails the pointer by that much
        page.evaluate("window.jrEditor.viewer.centreOn(192, 128, 2)")
        box = page.locator("#jr-stage").bounding_box()
        x0, y0 = box["x"] + 200, box["y"] + 300
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x0 + 200, y0, steps=20)
        lag = page.evaluate("""() => { const b = window.jrEditor.tools.brush, v = window.jrEditor.viewer;
            return Math.hypot(b.pointer[0] - b.stab.brush[0], b.pointer[1] - b.stab.brush[1]) * v.scale; }""")
        page.keyboard.press("Escape")
        page.mouse.up()
        assert abs(lag - 24) < 0.5, lag
        shot(page, "stabiliser-24")

        page.reload()
        page.wait_for_function("window.jrEditor && window.jrEditor.socket.synced")
        assert page.input_value("#jr-stab") == "24"  # remembered for this person

        # another person on the same browser starts with it off
        page.click("button:has-text('Sign out')")
        page.fill("input[name=username]", "lead")
        page.fill("input[name=password]", "pw")
        with page.expect_navigation():
            page.press("input[name=password]", "Enter")
        open_editor(page, app, seed["pixels"])
        assert page.input_value("#jr-stab") == "0"
    finally:
        ctx.close()


def test_compare_modes_and_the_swipe_divider(browser, live_app):
    app, seed = live_app, live_app.seed
    ctx, page = login(browser, app, "lead")
    try:
        open_editor(page, app, seed["chain"])
        x, y, w, h = seed["hole_bbox"]
        page.evaluate("([x, y]) => window.jrEditor.viewer.centreOn(x, y, 2)", [x + w / 2, y + h / 2])
        wait_tiles(page)
        # side by side: two panes, one zoom and pan for both (original left, cutout right)
        page.click("[data-mode=side]")
        wait_tiles(page)
        assert page.locator("#jr-stage canvas.jr-pane").count() == 2
        side = stage_shot(page, "compare-side-by-side")
        half = side.shape[1] // 2
        assert np.abs(side[:, :half - 2] - side[:, half:half * 2 - 2]).max(axis=2).mean() > 1  # they differ ...
        page.mouse.move(*(lambda b: (b["x"] + 100, b["y"] + 100))(page.locator("#jr-stage").bounding_box()))
        page.mouse.wheel(0, -300)  # ... and zoom together
        assert page.locator("#jr-stage canvas.jr-pane").count() == 2
        page.click("[data-mode=onion]")
        onion_half = stage_shot(page, "compare-onion-50")
        page.fill("#jr-onion", "1")
        page.dispatch_event("#jr-onion", "input")
        page.wait_for_timeout(100)
        assert np.abs(stage_shot(page, "compare-onion-100") - onion_half).max() > 30
        page.click("[data-mode=diff]")
        wait_tiles(page)
        stage_shot(page, "compare-difference")
        page.click("[data-mode=red]")
        wait_tiles(page)
        stage_shot(page, "compare-red-overlay")

        # swipe: drag the divider itself from the middle to a quarter of the pane
        page.click("[data-mode=swipe]")
        wait_tiles(page)
        box = page.locator("#jr-stage").bounding_box()
        pane_w = page.evaluate("window.jrEditor.viewer.panes[0].w")
        page.mouse.move(box["x"] + pane_w / 2, box["y"] + 200)
        page.mouse.down()
        page.mouse.move(box["x"] + pane_w / 4, box["y"] + 220, steps=5)
        page.mouse.up()
        assert abs(page.evaluate("window.jrEditor.viewer.swipe") - 0.25) < 0.01
        assert abs(float(page.input_value("#jr-swipe")) - 0.25) < 0.01
        assert page.evaluate("window.jrEditor.pending.size") == 0  # dragging the divider drew nothing
        stage_shot(page, "compare-swipe-quarter")
    finally:
        ctx.close()
