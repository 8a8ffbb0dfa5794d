"""Review panels of the editor in real Chromium (issue 6, Review): pinned comments that are
threaded and resolvable, live for everyone on the image; the colour panel with the reference
swatch beside the measured colour and ΔE2000. Screenshots in test-artifacts/."""
from __future__ import annotations

import pytest

from tests.browser.conftest import login, open_editor, shot, wait_tiles
from tests.browser.test_editor import to_page

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


def test_pinned_threaded_comments_are_live_and_resolvable(browser, live_app):
    app, image_id = live_app, live_app.seed["grid"]["ring-b.png"]
    ctx_l, lead = login(browser, app, "lead")
    ctx_r, ret = login(browser, app, "retoucher1")
    try:
        open_editor(lead, app, image_id)
        open_editor(ret, app, image_id)
        wait_tiles(lead)
        lead.focus("#jr-stage")
        lead.keyboard.press("c")
        lead.mouse.click(*to_page(lead, 300, 200))
        body = "<b>Prong</b> at the top looks bent"
        lead.fill("#jr-comment-body", body)
        lead.click("#jr-comment-form button[type=submit]")

        # the retoucher gets the pin and the thread without reloading; text stays text
        ret.wait_for_selector("#jr-pins .jr-pin")
        ret.click("[aria-controls=jr-tab-comments]")
        thread = ret.locator("#jr-comments .jr-thread").first
        assert body in thread.inner_text() and thread.locator("b").count() == 0
        pin = ret.locator("#jr-pins .jr-pin").first.bounding_box()
        px, py = to_page(ret, 300, 200)
        assert abs(pin["x"] + pin["width"] / 2 - px) < 3 and abs(pin["y"] + pin["height"] - py) < 6  # tip on the point
        thread.locator("button:has-text('Reply')").click()
        ret.fill("#jr-comment-body", "Straightened it, please look again")
        ret.click("#jr-comment-form button[type=submit]")
        lead.click("[aria-controls=jr-tab-comments]")
        lead.wait_for_selector("#jr-comments .jr-reply:has-text('Straightened it')")
        shot(lead, "comments-thread")

        # resolving it hides the pin for both and marks the thread
        lead.locator("#jr-comments .jr-thread").first.locator("button:has-text('Resolve')").click()
        for page in (lead, ret):
            page.wait_for_function("document.querySelectorAll('#jr-pins .jr-pin').length === 0")
            assert "resolved" in page.locator("#jr-comments .jr-thread").first.inner_text()
        shot(ret, "comments-resolved")
    finally:
        ctx_l.close()
        ctx_r.close()


def test_colour_panel_shows_the_swatch_beside_the_measured_colour_with_delta_e(browser, live_app):
    app, seed = live_app, live_app.seed
    ctx, page = login(browser, app, "retoucher1")
    try:
        open_editor(page, app, seed["grid"]["ring-a.png"])
        page.click("[aria-controls=jr-tab-colour]")
        assert page.locator("#jr-swatch option").all_inner_texts() == ["18k yellow"]
        assert "80.0" in page.inner_text("#jr-chip-ref-label")
        assert page.evaluate("getComputedStyle(document.querySelector('#jr-chip-ref')).backgroundColor") != "rgba(0, 0, 0, 0)"
        stored = page.inner_text("#jr-delta-e")
        assert "ΔE2000 4.20" in stored and "OUTSIDE" in stored  # the measurement on record

        # measure the metal again: drag a region with the measure tool (M)
        x, y, w, h = seed["metal_rect"]
        page.evaluate("([x, y]) => window.jrEditor.viewer.centreOn(x, y, 4)", [x + w / 2, y + h / 2])
        wait_tiles(page)
        page.focus("#jr-stage")
        page.keyboard.press("m")
        page.mouse.move(*to_page(page, x, y))
        page.mouse.down()
        page.mouse.move(*to_page(page, x + w, y + h), steps=4)
        with page.expect_response(lambda r: r.url.endswith("/colour/")) as resp:
            page.mouse.up()
        assert resp.value.status == 200, resp.value.text()[:300]
        page.wait_for_function("!document.querySelector('#jr-delta-e').textContent.includes('4.20')")
        measured = resp.value.json()
        text = page.inner_text("#jr-delta-e")
        assert f"ΔE2000 {measured['delta_e']:.2f}" in text
        assert ("within" in text) == measured["passed"]
        chip = page.evaluate("getComputedStyle(document.querySelector('#jr-chip-measured')).backgroundColor")
        assert chip.startswith("rgb(") and chip != "rgba(0, 0, 0, 0)"
        shot(page, "colour-panel-measured")
    finally:
        ctx.close()


def test_side_panel_tabs_work_from_the_keyboard(browser, live_app):
    ctx, page = login(browser, live_app, "lead")
    try:
        open_editor(page, live_app, live_app.seed["chain"])
        page.focus("[aria-controls=jr-tab-findings]")
        page.keyboard.press("ArrowRight")
        focused = page.evaluate("document.activeElement.getAttribute('aria-controls')")
        assert focused == "jr-tab-comments" and page.is_visible("#jr-tab-comments") and not page.is_visible("#jr-tab-findings")
        page.keyboard.press("End")
        assert page.evaluate("document.activeElement.getAttribute('aria-controls')") == "jr-tab-history"
        assert page.is_visible("#jr-tab-history")
        # Tab from the tab list goes into the panel (only the selected tab is in the tab order)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "jr-compare-ai"
        page.keyboard.press("Enter")
        assert page.evaluate("window.jrEditor.viewer.mode") == "diff"
        wait_tiles(page)
        page.wait_for_timeout(100)  # the difference composite is built on the next frame
        shot(page, "keyboard-tabs-history")
    finally:
        ctx.close()
