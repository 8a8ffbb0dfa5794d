"""The collection grid (issue 6, collection view): every cutout on one matte, with state, QA
count, ΔE badge and drift flags; keyboard reachable; any image opens from it. Screenshots in
test-artifacts/."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from tests.browser.conftest import login, shot, wait_tiles

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


def test_grid_shows_every_cutout_on_one_matte_flags_drift_and_opens_images(browser, live_app):
    app, seed = live_app, live_app.seed
    ctx, page = login(browser, app, "retoucher1")
    try:
        page.goto(f"{app.url}/collections/{seed['drift_collection']}/grid/")
        cells = page.locator(".jr-cell")
        assert cells.count() == 3
        page.wait_for_function("[...document.querySelectorAll('.jr-cell img')].every(i => i.complete && i.naturalWidth > 0)")
        # only the darker shot is flagged, with its exposure difference (about -0.6 EV)
        dark = page.locator(f".jr-cell[data-image='{seed['grid']['ring-dark.png']}']")
        assert "jr-drifted" in dark.get_attribute("class")
        assert page.locator(".jr-drifted").count() == 1
        ev = float(dark.locator(".jr-drift").inner_text().split("·")[-1].replace("EV", "").strip())
        assert -0.75 < ev < -0.45, ev
        # the ΔE badge of the image measured outside its swatch's tolerance
        measured = page.locator(f".jr-cell[data-image='{seed['grid']['ring-a.png']}'] .jr-de")
        assert measured.inner_text() == "ΔE 4.2" and "bad" in measured.get_attribute("class")
        assert page.locator(".jr-cell .jr-qa").first.inner_text() == "0 QA"

        # one matte for all, remembered for this person
        page.select_option("#jr-grid-matte", "black")
        path = shot(page, "grid-black-matte")
        box = dark.locator(".jr-cell-pic").bounding_box()
        corner = np.asarray(PILImage.open(path).convert("RGB"))[int(box["y"]) + 3, int(box["x"]) + 3]
        assert corner.max() < 10, corner  # the cutout's backdrop is gone: the black matte shows
        page.reload()
        assert page.input_value("#jr-grid-matte") == "black"

        # keyboard: Tab reaches the pictures; Enter opens the editor on that image
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.classList.contains('jr-cell-pic')"):
                break
        else:
            raise AssertionError("Tab never reached a picture of the grid")
        target = page.evaluate("document.activeElement.closest('.jr-cell').dataset.image")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert page.url.endswith(f"/images/{target}/editor/")
        page.wait_for_function("window.jrEditor && window.jrEditor.socket.synced")
        wait_tiles(page)
        shot(page, "grid-opened-editor")
    finally:
        ctx.close()


def test_grid_of_another_organisations_collection_is_not_found(browser, live_app):
    ctx, page = login(browser, live_app, "client_b")
    try:
        res = page.goto(f"{live_app.url}/collections/{live_app.seed['drift_collection']}/grid/")
        assert res.status == 404
    finally:
        ctx.close()
