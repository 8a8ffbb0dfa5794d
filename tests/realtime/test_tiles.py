"""Mask tiles per revision: exact pixels, only the touched tiles re-rendered, policy on every URL."""
from __future__ import annotations

import io
import json
from urllib.parse import quote

import numpy as np
import pytest
from PIL import Image as PILImage

from masks import tiles as mtiles
from masks.ops import parse_op
from reviews.models import Operation
from reviews.services import masklog, realtime, storage
from tests.conftest import make_ingested, small_photo
from tests.realtime.conftest import stroke

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(world):
    rgb, alpha = small_photo(600, 400, seed=3)  # 3 x 2 tiles at full resolution, 11 levels
    return make_ingested(world.image, rgb, alpha)


def edit(image, user, op, cid):
    masklog.append(image.pk, user, "op", op, cid)
    image.refresh_from_db()
    return image.head_seq


def alpha_of(png: bytes) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(png)).convert("RGBA"))[..., 3]


def expected_tile(image, seq, level, col, row):
    full = masklog.render_revision(image, seq)
    x, y, w, h = mtiles.tile_rect(level, col, row, image.width, image.height)
    return mtiles.render_tile(np.ascontiguousarray(full[y:y + h, x:x + w]), level, image.width, image.height)


def cached_tiles(image, seq):
    """(level, col, row) of every mask tile stored under revision ``seq``."""
    root = storage.local_path(f"{image.folder}/tilecache/mask/{seq}")
    import pathlib

    p = pathlib.Path(root)
    return sorted((int(f.parent.name), *map(int, f.stem.split("_"))) for f in p.glob("*/*.png")) if p.exists() else []


def test_tiles_hold_the_exact_pixels_of_the_revision_at_every_level(image, world):
    seq = edit(image, world.users["retoucher1"], stroke(250, 200, "remove", radius=9, n=30), "s1")
    top = mtiles.level_count(600, 400) - 1
    for level, col, row in [(top, 0, 0), (top, 1, 0), (top, 2, 1), (top - 1, 0, 0), (top - 2, 0, 0), (top - 4, 0, 0), (0, 0, 0)]:
        data, _ = realtime.mask_tile(image, seq, level, col, row)
        assert np.array_equal(alpha_of(data), expected_tile(image, seq, level, col, row)), (level, col, row)


def test_tiles_composed_from_children_equal_direct_renders(image, world, settings, tmp_path):
    seq = edit(image, world.users["retoucher1"], stroke(250, 200, "remove", radius=9, n=30), "s1")
    top = mtiles.level_count(600, 400) - 1
    view = realtime.log_view(image)
    for level in (top - 1, top - 3, 0):
        composed = alpha_of(realtime.mask_tile(image, seq, level, 0, 0, view, compose=True)[0])
        assert np.array_equal(composed, expected_tile(image, seq, level, 0, 0)), level


def test_an_edit_re_renders_only_the_tiles_its_dirty_rect_touches(image, world):
    r1 = world.users["retoucher1"]
    top = mtiles.level_count(600, 400) - 1
    before = {(c, r): realtime.mask_tile(image, 0, top, c, r)[0] for c in range(3) for r in range(2)}
    # a stroke inside tile (1, 0) only: x 300..330, y 100..115
    seq = edit(image, r1, stroke(300, 100, "remove", radius=4, n=15), "s1")
    view, rect = realtime.edit_plan(image.pk, seq)
    assert rect is not None and rect[0] >= 256 and rect[0] + rect[2] <= 512 and rect[1] + rect[3] <= 256
    rendered = realtime.prerender(view, seq, rect)
    stored = cached_tiles(image, seq)
    assert (top, 1, 0) in stored and rendered == len(stored)
    assert not [t for t in stored if t[0] == top and t != (top, 1, 0)]
    for c in range(3):
        for r in range(2):
            data, eff = realtime.mask_tile(image, seq, top, c, r)
            if (c, r) == (1, 0):
                assert eff == seq and data != before[(c, r)]
            else:  # untouched: the very same stored tile of revision 0
                assert eff == 0 and data == before[(c, r)]
    # undoing it touches the same tile again, and gives back revision 0's pixels there
    masklog.undo(image.pk, r1, "u1")
    image.refresh_from_db()
    data, eff = realtime.mask_tile(image, image.head_seq, top, 1, 0)
    assert eff == image.head_seq and np.array_equal(alpha_of(data), alpha_of(before[(1, 0)]))
    assert realtime.mask_tile(image, image.head_seq, top, 0, 1)[1] == 0


def test_whole_frame_ops_move_every_tile(image, world):
    seq = edit(image, world.users["retoucher1"], {"type": "refine", "feather": 1.5}, "f1")
    view, rect = realtime.edit_plan(image.pk, seq)
    assert rect is None
    top = mtiles.level_count(600, 400) - 1
    assert all(realtime.mask_tile(image, seq, top, c, r)[1] == seq for c in range(3) for r in range(2))


def test_tile_urls_follow_the_policy(client, image, world):
    url = f"/images/{image.pk}/tiles/mask/0/9/0_0.png"
    client.force_login(world.users["client_b"])
    assert client.get(url).status_code == 404  # someone else's image: no such image
    assert client.get(f"/images/{image.pk}/tiles/original/9/0_0.jpeg").status_code == 404
    assert client.get(f"/images/{image.pk}/editor/").status_code == 404
    client.force_login(world.users["retoucher1"])
    res = client.get(url)
    assert res.status_code == 200 and res["Content-Type"] == "image/png"
    assert "immutable" in res["Cache-Control"]
    assert alpha_of(res.content).shape == (200, 256)  # level 9 = half size: 300 x 200
    assert client.get(f"/images/{image.pk}/tiles/mask/5/9/0_0.png").status_code == 404  # no revision 5
    assert client.get(f"/images/{image.pk}/tiles/mask/0/9/7_0.png").status_code == 404  # outside
    assert client.get(f"/images/{image.pk}/tiles/mask/0/11/0_0.png").status_code == 404  # no such level
    orig = client.get(f"/images/{image.pk}/tiles/original/10/0_0.jpeg")
    assert orig.status_code == 200 and PILImage.open(io.BytesIO(orig.content)).size == (256, 256)
    dzi = client.get(f"/images/{image.pk}/tiles/mask/0.dzi")
    assert b'Width="600"' in dzi.content and b'TileSize="256"' in dzi.content


def test_preview_shows_an_op_without_storing_it(client, image, world):
    client.force_login(world.users["retoucher1"])
    op = {"type": "path", "d": "M0 0H200V200H0Z", "mode": "subtract", "fill_rule": "nonzero", "feather": 0}
    res = client.get(f"/images/{image.pk}/tiles/preview/0/10/0_0.png?op={quote(json.dumps(op))}")
    assert res.status_code == 200
    got = alpha_of(res.content)
    assert not got[:200, :200].any()
    assert np.array_equal(got[:, 200:], expected_tile(image, 0, 10, 0, 0)[:, 200:])
    assert not Operation.objects.exists()
    bad = client.get(f"/images/{image.pk}/tiles/preview/0/10/0_0.png?op={quote(json.dumps({**op, 'mode': 'melt'}))}")
    assert bad.status_code == 400 and "mode" in bad.json()["error"]


def test_editor_page_carries_its_config_and_history_lists_entries(client, image, world):
    edit(image, world.users["retoucher1"], stroke(20, 20), "s1")
    client.force_login(world.users["retoucher1"])
    page = client.get(f"/images/{image.pk}/editor/")
    assert page.status_code == 200
    cfg = json.loads(page.content.split(b'id="jr-config" type="application/json">')[1].split(b"</script>")[0])
    assert cfg["tiles"] == {"width": 600, "height": 400, "tile_size": 256, "overlap": 0, "levels": 11}
    assert cfg["head_seq"] == 1 and cfg["can"]["edit_image"] is True
    assert [d["action"] for d in cfg["decisions"]] == ["submit"]
    hist = client.get(f"/images/{image.pk}/history.json").json()
    assert [(e["seq"], e["op_type"], e["author"]["name"]) for e in hist["entries"]] == [(1, "stroke", "Retoucher1")]
    assert parse_op(Operation.objects.get().payload).radius == 3.0
