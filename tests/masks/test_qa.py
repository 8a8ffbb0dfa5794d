"""masks.qa: each detector on hand-made cases, with the negative case for each."""
import ast
import json
import pathlib
import re

import cv2
import numpy as np
import pytest

from masks import qa
from masks.errors import MaskError

WHITE = (247, 247, 245)
BLACK = (16, 16, 18)
SILVER = (150, 152, 158)
SS = 4  # supersampling for exact-ish coverage


def coverage(draw, size=(320, 240)):
    """Area coverage 0–1 of what ``draw(canvas, scale)`` paints (255) on a supersampled canvas."""
    w, h = size
    big = np.zeros((h * SS, w * SS), np.uint8)
    draw(big, SS)
    return cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def photo(cov, colour=SILVER, backdrop=WHITE, seed=0, shade=None, shadow=None):
    """Composite a flat (or shaded) object over the backdrop with coverage ``cov`` + noise."""
    h, w = cov.shape
    obj = np.broadcast_to(np.asarray(colour, np.float32), (h, w, 3)).copy()
    if shade is not None:
        obj = obj + (np.asarray(backdrop, np.float32) - obj) * shade[..., None]
    bg = np.broadcast_to(np.asarray(backdrop, np.float32), (h, w, 3)).copy()
    if shadow is not None:
        bg *= (1 - shadow)[..., None]
    img = obj * cov[..., None] + bg * (1 - cov[..., None])
    img += np.random.default_rng(seed).normal(0, 1.2, (h, w, 1)).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def alpha(cov):
    return np.clip(cov * 255 + 0.5, 0, 255).astype(np.uint8)


def ring(cx=160, cy=120, r_out=70, r_in=42):
    def draw(c, s):
        cv2.circle(c, (cx * s, cy * s), r_out * s, 255, -1)
        cv2.circle(c, (cx * s, cy * s), r_in * s, 0, -1)
    return draw


def disc(cx=160, cy=120, r=60):
    def draw(c, s):
        cv2.circle(c, (cx * s, cy * s), r * s, 255, -1)
    return draw


def chain(n=4):
    """Interlocking elliptical links along a line; returns (draw, link centres)."""
    centres = [(60 + 65 * i, 120) for i in range(n)]

    def draw(c, s):
        for i, (x, y) in enumerate(centres):
            axes = (40 * s, 24 * s) if i % 2 == 0 else (40 * s, 10 * s)
            cv2.ellipse(c, (x * s, y * s), axes, 0, 0, 360, 255, 6 * s)
    return draw, centres


def overlaps(bbox, box):
    ax, ay, aw, ah = bbox
    bx, by, bw, bh = box
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def kinds(report):
    return [f.kind for f in report.findings]


# ---- trapped background ---------------------------------------------------------------------


def test_ring_whose_hole_is_filled_is_trapped_background():
    cov = coverage(ring())
    img = photo(cov)
    filled = alpha(coverage(disc(r=70)))
    rep = qa.analyse(img, filled)
    trapped = [f for f in rep.findings if f.kind == "trapped_background"]
    assert len(trapped) == 1
    f = trapped[0]
    # the box is the ring's hole (radius 42 around 160,120), not the band
    x, y, w, h = f.bbox
    assert abs(x + w / 2 - 160) <= 3 and abs(y + h / 2 - 120) <= 3
    assert 76 <= w <= 88 and 76 <= h <= 88
    assert abs(f.area_px - np.pi * 42 ** 2) < 0.1 * np.pi * 42 ** 2
    assert 0 < f.severity <= 1


def test_ring_cut_out_correctly_has_no_findings():
    cov = coverage(ring())
    assert qa.analyse(photo(cov), alpha(cov)).findings == []


def test_metal_that_only_resembles_the_backdrop_is_not_trapped_background():
    # a broad band whose middle mirrors the backdrop (smooth, off it by a few levels)
    cov = coverage(ring(r_out=80, r_in=30))
    yy, xx = np.mgrid[0:240, 0:320]
    rr = np.hypot(xx - 160, yy - 120)
    shade = 0.93 * np.exp(-((rr - 55) / 7.0) ** 2)  # reflection stripe, 93 % backdrop at its peak
    img = photo(cov, shade=shade)
    assert "trapped_background" not in kinds(qa.analyse(img, alpha(cov)))


# ---- hole in object ---------------------------------------------------------------------------


def test_hole_punched_in_metal_is_hole_in_object():
    cov = coverage(disc(r=70))
    img = photo(cov)
    bad = alpha(cov)
    cv2.circle(bad, (140, 110), 9, 0, -1)
    rep = qa.analyse(img, bad)
    holes = [f for f in rep.findings if f.kind == "hole_in_object"]
    assert len(holes) == 1 and overlaps(holes[0].bbox, (131, 101, 19, 19))
    assert "trapped_background" not in kinds(rep)


def test_hole_where_metal_mirrors_the_backdrop_is_hole_in_object():
    cov = coverage(disc(r=80))
    yy, xx = np.mgrid[0:240, 0:320]
    # a soft stripe across the disc that comes within a few levels of the backdrop colour
    shade = 0.97 * np.exp(-((yy - 100) / 10.0) ** 2) * (np.abs(xx - 160) < 50)
    shade = cv2.GaussianBlur(shade.astype(np.float32), (0, 0), 2.0)
    img = photo(cov, shade=shade)
    d = np.sqrt(((img.astype(float) - WHITE) ** 2).sum(-1))
    bad = alpha(cov)
    punched = (d < 25) & (cov > 0.99)  # what a colour-keyed AI drops
    punched = cv2.morphologyEx(punched.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)
    assert punched.sum() > 100
    bad[punched] = 0
    holes = [f for f in qa.analyse(img, bad).findings if f.kind == "hole_in_object"]
    ys, xs = np.nonzero(punched)
    assert holes and any(overlaps(f.bbox, (xs.min(), ys.min(), np.ptp(xs) + 1, np.ptp(ys) + 1)) for f in holes)


def test_negative_space_cut_out_is_not_a_hole_in_object():
    draw, _ = chain()
    cov = coverage(draw)
    for backdrop in (WHITE, BLACK):
        rep = qa.analyse(photo(cov, backdrop=backdrop), alpha(cov))
        assert "hole_in_object" not in kinds(rep)


def test_prong_cut_into_a_gallery_window_is_clipped_detail_not_a_hole():
    # a metal plate with two narrow windows of negative space either side of a broad bar (a
    # prong seen against the gallery); the AI cut the bar away together with a bite of the plate
    # above and below, so one enclosed hole holds the backdrop of both windows and the bar's metal
    def gt(c, s):
        cv2.rectangle(c, (60 * s, 40 * s), (260 * s, 200 * s), 255, -1)
        cv2.rectangle(c, (142 * s, 100 * s), (178 * s, 130 * s), 0, -1)
        cv2.rectangle(c, (148 * s, 100 * s), (172 * s, 130 * s), 255, -1)
    cov = coverage(gt)
    img = photo(cov)
    bad = alpha(cov)
    bad[85:145, 142:178] = 0
    rep = qa.analyse(img, bad)
    assert "hole_in_object" not in kinds(rep)
    clipped = [f for f in rep.findings if f.kind == "clipped_detail"]
    assert clipped and all(overlaps(f.bbox, (142, 85, 36, 60)) for f in clipped)


# ---- clipped detail ---------------------------------------------------------------------------


def test_chain_with_one_link_clipped_is_clipped_detail():
    draw, centres = chain()
    cov = coverage(draw)
    img = photo(cov)
    bad = alpha(cov)
    x, y = centres[3]
    bad[:, x - 8:] = 0  # the last link's far end cut away
    rep = qa.analyse(img, bad)
    clipped = [f for f in rep.findings if f.kind == "clipped_detail"]
    assert len(clipped) == 1
    cx, cy, cw, ch = clipped[0].bbox
    assert cx >= x - 10 and cx + cw <= x + 46 and overlaps(clipped[0].bbox, (x, y - 12, 40, 24))


def test_chain_on_black_with_one_link_clipped_is_clipped_detail():
    draw, centres = chain()
    cov = coverage(draw)
    img = photo(cov, backdrop=BLACK, colour=(200, 170, 90))
    bad = alpha(cov)
    bad[:, centres[3][0] - 8:] = 0
    assert kinds(qa.analyse(img, bad)) == ["clipped_detail"]


def test_chain_cut_out_correctly_has_no_clipped_detail():
    draw, _ = chain()
    cov = coverage(draw)
    for backdrop, colour in ((WHITE, SILVER), (BLACK, (200, 170, 90))):
        assert qa.analyse(photo(cov, colour=colour, backdrop=backdrop), alpha(cov)).findings == []


def test_soft_contact_shadow_is_not_clipped_detail():
    cov = coverage(disc(cy=100, r=60))
    sh = np.zeros((240, 320), np.float32)
    cv2.ellipse(sh, (160, 168), (60, 10), 0, 0, 360, 1.0, -1)
    sh = cv2.GaussianBlur(sh, (0, 0), 8) * 0.4
    img = photo(cov, shadow=sh)
    assert qa.analyse(img, alpha(cov)).findings == []


# ---- halo ---------------------------------------------------------------------------------------


def test_grey_halo_on_white_backdrop_is_a_halo():
    cov = coverage(disc(r=60))
    img = photo(cov, colour=(120, 120, 120))
    grown = coverage(disc(r=63))
    bad = alpha(cov)
    bad[:, 160:] = alpha(grown)[:, 160:]  # the right half of the edge 3 px too far out
    halos = [f for f in qa.analyse(img, bad).findings if f.kind == "halo"]
    assert len(halos) == 1
    x, y, w, h = halos[0].bbox
    assert x >= 158 and x + w <= 225 and h > 80  # the right half of the rim only
    assert "halo" not in kinds(qa.analyse(img, alpha(cov)))


def test_halo_on_black_backdrop_too():
    cov = coverage(disc(r=60))
    img = photo(cov, colour=(230, 200, 120), backdrop=BLACK)
    bad = alpha(coverage(disc(r=64)))
    assert kinds(qa.analyse(img, bad)) == ["halo"]


# ---- jagged edge ----------------------------------------------------------------------------------


def blocky(a, step):
    h, w = a.shape
    small = cv2.resize(a, (w // step, h // step), interpolation=cv2.INTER_AREA)
    return cv2.resize(((small >= 128) * 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)


def test_stair_stepped_edge_is_jagged_edge():
    cov = coverage(disc(r=70))
    img = photo(cov)
    bad = alpha(cov)
    bad[:, :160] = blocky(alpha(cov), 6)[:, :160]  # left half upscaled from a coarse mask
    jag = [f for f in qa.analyse(img, bad).findings if f.kind == "jagged_edge"]
    assert jag and all(f.bbox[0] < 160 for f in jag)
    assert "jagged_edge" not in kinds(qa.analyse(img, alpha(cov)))


def test_hard_but_smooth_edge_is_not_jagged():
    # a binary mask that follows the real edge (thresholded anti-aliasing) is not stair-stepped
    cov = coverage(disc(r=70))
    img = photo(cov)
    hard = ((cov >= 0.5) * 255).astype(np.uint8)
    assert "jagged_edge" not in kinds(qa.analyse(img, hard))


def test_hard_metal_edge_cut_hard_is_not_soft_edge_loss():
    # metal has a one-pixel edge: a binary mask there loses nothing soft
    cov = coverage(disc(r=70))
    hard = ((cov >= 0.5) * 255).astype(np.uint8)
    for backdrop in (WHITE, BLACK):
        assert "soft_edge_loss" not in kinds(qa.analyse(photo(cov, backdrop=backdrop), hard))


# ---- soft edge loss -------------------------------------------------------------------------------


def soft_disc(r=60, soft=4.0):
    yy, xx = np.mgrid[0:240, 0:320].astype(np.float32) + 0.5
    d = np.hypot(xx - 160, yy - 120) - r
    return np.clip(0.5 - d / soft, 0, 1)


def test_pearl_edge_cut_hard_is_soft_edge_loss():
    cov = soft_disc()
    img = photo(cov, colour=(214, 176, 112))
    hard = ((cov >= 0.65) * 255).astype(np.uint8)
    rep = qa.analyse(img, hard)
    assert "soft_edge_loss" in kinds(rep)
    assert "soft_edge_loss" not in kinds(qa.analyse(img, alpha(cov)))
    assert qa.analyse(img, alpha(cov)).findings == []


# ---- backdrop, report, inputs ----------------------------------------------------------------------


def test_estimate_backdrop_with_and_without_mask():
    cov = coverage(ring())
    img = photo(cov, backdrop=(212, 213, 215))
    assert np.abs(np.subtract(qa.estimate_backdrop(img, alpha(cov)), (212, 213, 215))).max() <= 2
    assert np.abs(np.subtract(qa.estimate_backdrop(img), (212, 213, 215))).max() <= 2


def test_report_ranks_bigger_defects_first_and_has_a_heat_map():
    cov = coverage(ring())
    img = photo(cov)
    bad = alpha(coverage(disc(r=70)))  # trapped hole, ~5500 px
    cv2.circle(bad, (160, 58), 4, 0, -1)  # small hole in the band
    rep = qa.analyse(img, bad)
    assert kinds(rep)[0] == "trapped_background"
    sev = [f.severity for f in rep.findings]
    assert sev == sorted(sev, reverse=True) and len(sev) == 2
    assert rep.heatmap.dtype == np.uint8 and rep.heatmap.shape == (240, 320)
    assert rep.heatmap_scale == 1.0
    assert rep.heatmap[120, 160] > 100 and rep.heatmap[5, 5] == 0
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["findings"][0]["kind"] == "trapped_background"
    assert set(d["findings"][0]) == {"kind", "bbox", "severity", "area_px", "message"}


def test_large_image_is_analysed_at_reduced_size_and_reported_in_full_pixels():
    w, h = 2400, 1800
    big = np.zeros((h, w), np.uint8)
    cv2.circle(big, (1200, 900), 500, 255, -1, cv2.LINE_AA)
    cv2.circle(big, (1200, 900), 300, 0, -1, cv2.LINE_AA)
    cov = big.astype(np.float32) / 255
    img = photo(cov)
    filled = np.zeros((h, w), np.uint8)
    cv2.circle(filled, (1200, 900), 500, 255, -1, cv2.LINE_AA)
    rep = qa.analyse(img, filled)
    assert rep.heatmap_scale < 1 and rep.heatmap.shape[0] == round(h * rep.heatmap_scale)
    (f,) = [f for f in rep.findings if f.kind == "trapped_background"]
    x, y, bw, bh = f.bbox
    assert abs(x - 900) < 12 and abs(y - 600) < 12 and abs(bw - 600) < 24 and abs(bh - 600) < 24


def test_halo_on_a_large_image_is_measured_in_full_resolution_pixels():
    w, h = 2400, 1800  # analysed at about 0.42 scale
    cov = np.zeros((h, w), np.uint8)
    cv2.circle(cov, (1200, 900), 500, 255, -1, cv2.LINE_AA)
    img = photo(cov.astype(np.float32) / 255, colour=(120, 120, 120))
    grown = np.zeros((h, w), np.uint8)
    cv2.circle(grown, (1200, 900), 512, 255, -1, cv2.LINE_AA)  # a 12 px fringe all round
    halos = [f for f in qa.analyse(img, grown).findings if f.kind == "halo"]
    assert halos
    for f in halos:
        width = float(re.search(r"colour ([0-9.]+) px wide", f.message).group(1))
        assert 8 <= width <= 16, f.message


@pytest.mark.parametrize("image, mask, field", [
    (np.zeros((50, 50), np.uint8), np.zeros((50, 50), np.uint8), "image"),
    (np.zeros((50, 50, 3), np.float32), np.zeros((50, 50), np.uint8), "image"),
    (np.zeros((50, 50, 3), np.uint8), np.zeros((40, 50), np.uint8), "mask"),
    (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8), "image"),
])
def test_bad_inputs_are_refused_naming_what(image, mask, field):
    with pytest.raises(MaskError, match=field):
        qa.analyse(image, mask)


@pytest.mark.parametrize("backdrop", ["#zzzzzz", "1,2", (300, 0, 0), "white"])
def test_bad_backdrop_is_refused(backdrop):
    img = np.full((40, 40, 3), 200, np.uint8)
    with pytest.raises(MaskError, match="backdrop"):
        qa.analyse(img, np.zeros((40, 40), np.uint8), backdrop=backdrop)


def test_backdrop_may_be_given():
    cov = coverage(ring())
    img = photo(cov)
    rep = qa.analyse(img, alpha(cov), backdrop="#f7f7f5")
    assert rep.backdrop == (247, 247, 245) and rep.findings == []


def test_detectors_never_see_ground_truth_or_planted_defects():
    tree = ast.parse(pathlib.Path(qa.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any("synth" in m or "qabench" in m for m in imported)
