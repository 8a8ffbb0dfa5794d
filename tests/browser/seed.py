"""Seed the live server's database for the browser tests; prints what it made as JSON.

Run as ``python -m tests.browser.seed`` with the live server's environment (its own SQLite
file and media folder). The chain image is the ground truth with two planted AI mistakes: one
link's negative space filled in (trapped background) and the end bar's tip cut off (a clipped
prong); their geometry is printed so the tests can act on it and check the saved mask.
"""
from __future__ import annotations

import json
import os

import django


def hole_outline(hole, inset=1.5, spacing=3.0):
    """Points (image px, pixel-corner coordinates) of a polygon just inside a hole mask."""
    import cv2
    import numpy as np

    contours, _ = cv2.findContours(hole.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(contours, key=cv2.contourArea)
    poly = cv2.approxPolyDP(c, 0.8, True)[:, 0, :].astype(float) + 0.5  # pixel centres
    cx, cy = poly.mean(axis=0)
    out = []
    for x, y in poly:
        d = np.hypot(x - cx, y - cy)
        k = max(0.0, (d - inset) / d)
        p = (round(cx + (x - cx) * k, 2), round(cy + (y - cy) * k, 2))
        if not out or np.hypot(p[0] - out[-1][0], p[1] - out[-1][1]) >= spacing:
            out.append(p)
    if len(out) > 2 and np.hypot(out[0][0] - out[-1][0], out[0][1] - out[-1][1]) < spacing:
        out.pop()
    return out


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jewelreview.settings")
    django.setup()
    import numpy as np
    import scipy.ndimage as ndi
    from django.contrib.auth.models import User
    from django.utils import timezone

    from masks import synth
    from reviews.models import ClientOrg, Collection, Profile, QAFinding, Role, State, Studio
    from tests.conftest import make_ingested
    from reviews.models import Image

    studio = Studio.objects.create(name="Atelier")
    org_a = ClientOrg.objects.create(studio=studio, name="Maison A")
    org_b = ClientOrg.objects.create(studio=studio, name="Maison B")
    users = {}
    for name, role, org in [("lead", Role.LEAD, None), ("retoucher1", Role.RETOUCHER, None),
                            ("client_a", Role.CLIENT, org_a), ("client_b", Role.CLIENT, org_b)]:
        u = User.objects.create_user(username=name, password="pw", first_name=name.replace("_", " ").title())
        Profile.objects.create(user=u, role=role, studio=studio, client_org=org)
        users[name] = u
    chains = Collection.objects.create(studio=studio, client_org=org_a, name="Chains")
    rings = Collection.objects.create(studio=studio, client_org=org_a, name="Rings for approval")
    other = Collection.objects.create(studio=studio, client_org=org_b, name="Other house")

    sample = synth.generate("chain", 5, size=(900, 600), backdrop="white")
    gt = sample.alpha.copy()
    obj = gt >= 128
    lab, n = ndi.label(~obj)
    border = set(np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])))
    holes = [(int((lab == i).sum()), i) for i in range(1, n + 1) if i not in border]
    hole = lab == max(holes)[1]
    base = gt.copy()
    base[ndi.binary_dilation(hole, iterations=2)] = 255  # the AI filled the link's negative space
    # the end bar's tip (rightmost object pixels) cut off: a clipped prong
    ys, xs = np.nonzero(obj)
    tip_x = int(xs.max())
    prong = obj & (np.arange(900)[None, :] > tip_x - 22)
    base[prong] = 0
    py, px = np.nonzero(prong)
    chain = Image.objects.create(collection=chains, name="chain-links.png", state=State.IN_RETOUCH,
                                 assignee=users["retoucher1"], width=900, height=600)
    make_ingested(chain, sample.image, base)
    hy, hx = np.nonzero(hole)
    hole_bbox = [int(hx.min()), int(hy.min()), int(np.ptp(hx) + 1), int(np.ptp(hy) + 1)]
    prong_bbox = [int(px.min()), int(py.min()), int(np.ptp(px) + 1), int(np.ptp(py) + 1)]
    QAFinding.objects.create(image=chain, kind="trapped_background", x=hole_bbox[0], y=hole_bbox[1],
                             w=hole_bbox[2], h=hole_bbox[3], severity=0.9, area_px=int(hole.sum()),
                             message="background trapped inside a link")
    QAFinding.objects.create(image=chain, kind="clipped_detail", x=prong_bbox[0], y=prong_bbox[1],
                             w=prong_bbox[2], h=prong_bbox[3], severity=0.7, area_px=int(prong.sum()),
                             message="the end of the chain is cut off")
    # the prong's centre line, left to right, for the brush
    cols = sorted(set(px.tolist()))
    line = [[float(c) + 0.5, float(py[px == c].mean()) + 0.5] for c in cols[::3]]

    # pixels for the 800 % test: hard random colours, mask empty
    rng = np.random.default_rng(7)
    pix_rgb = rng.integers(0, 256, size=(64, 96, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1)  # 4x4 px blocks
    pixels = Image.objects.create(collection=chains, name="pixels.png", state=State.IN_RETOUCH,
                                  assignee=users["retoucher1"], width=384, height=256)
    make_ingested(pixels, np.ascontiguousarray(pix_rgb), np.zeros((256, 384), np.uint8))

    ring = synth.generate("ring", 2, size=(600, 450), backdrop="white")
    approve = Image.objects.create(collection=rings, name="ring-approve.png", state=State.CLIENT_REVIEW,
                                   assignee=users["retoucher1"], width=600, height=450, sent_to_client_at=timezone.now())
    make_ingested(approve, ring.image, ring.alpha)
    foreign = Image.objects.create(collection=other, name="other-house.png", state=State.CLIENT_REVIEW,
                                   width=600, height=450, sent_to_client_at=timezone.now())
    make_ingested(foreign, ring.image, ring.alpha)

    # the collection grid: three rings on white, one shot 0.6 stops darker (in linear light:
    # exposure drift), one measured against a swatch and outside its tolerance
    from masks.color import linear_to_srgb, srgb_to_linear
    from reviews.models import ColourCheck, Swatch

    drift = Collection.objects.create(studio=studio, client_org=org_a, name="Drift check")
    grid_ids = {}
    for name, seed_no, stops in [("ring-a.png", 3, 0.0), ("ring-b.png", 4, 0.0), ("ring-dark.png", 5, -0.6)]:
        shot = synth.generate("ring", seed_no, size=(600, 450), backdrop="white")
        rgb = shot.image
        if stops:
            rgb = np.round(np.clip(linear_to_srgb(srgb_to_linear(rgb) * 2**stops), 0, 1) * 255).astype(np.uint8)
        im = Image.objects.create(collection=drift, name=name, state=State.IN_RETOUCH, assignee=users["retoucher1"],
                                  width=600, height=450)
        make_ingested(im, rgb, shot.alpha)
        grid_ids[name] = im.pk
        if name == "ring-a.png":  # a 6 × 6 px patch of solid metal, for measuring its colour
            cy, cx = np.argwhere(ndi.binary_erosion(shot.alpha == 255, iterations=5))[0]
            metal_rect = [int(cx) - 3, int(cy) - 3, 6, 6]
    gold = Swatch.objects.create(collection=drift, name="18k yellow", lab_l=80, lab_a=2, lab_b=40, tolerance=2.0)
    ColourCheck.objects.create(image_id=grid_ids["ring-a.png"], swatch=gold, x=10, y=10, w=20, h=20,
                               measured_l=78, measured_a=3, measured_b=33, delta_e=4.2, passed=False)

    print(json.dumps({
        "chain": chain.pk, "pixels": pixels.pk, "approve": approve.pk, "foreign": foreign.pk,
        "rings_collection": rings.pk, "drift_collection": drift.pk, "grid": grid_ids, "metal_rect": metal_rect,
        "hole_bbox": hole_bbox, "hole_outline": hole_outline(hole), "prong_bbox": prong_bbox,
        "prong_line": line,
    }))


if __name__ == "__main__":
    main()
