"""DZI pyramids: layout, sizes, and dirty-rect updates identical to a fresh build."""
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from masks import tiles
from masks.errors import MaskError


def _read(path):
    return np.array(Image.open(path))


def test_level_geometry():
    assert tiles.level_count(1, 1) == 1
    assert tiles.level_count(517, 301) == 11  # ceil(log2 517) + 1
    assert tiles.level_size(10, 517, 301) == (517, 301)
    assert tiles.level_size(9, 517, 301) == (259, 151)
    assert tiles.level_size(0, 517, 301) == (1, 1)
    assert tiles.tile_grid(10, 517, 301) == (3, 2)
    assert tiles.tile_rect(10, 2, 1, 517, 301) == (512, 256, 5, 45)
    assert tiles.tile_rect(9, 1, 0, 517, 301) == (512, 0, 5, 301)
    with pytest.raises(MaskError, match="outside"):
        tiles.tile_rect(10, 3, 0, 517, 301)
    hit = tiles.tiles_for_rect((250, 10, 10, 10), 517, 301)
    assert hit[:2] == [(10, 0, 0), (10, 1, 0)]
    assert (0, 0, 0) in hit and len(hit) == 2 + 10  # two at full size, then one per level 9..0
    assert tiles.tiles_for_rect((600, 0, 5, 5), 517, 301) == []


def test_build_pyramid_layout_and_pixels(tmp_path):
    rng = np.random.default_rng(0)
    a = (rng.random((301, 517, 3)) * 255).astype(np.uint8)
    info = tiles.build_pyramid(a, tmp_path, "orig")
    assert info == {"width": 517, "height": 301, "tile_size": 256, "overlap": 0, "format": "png", "levels": 11}
    dzi = ET.parse(tmp_path / "orig.dzi").getroot()
    assert dzi.get("TileSize") == "256" and dzi.get("Overlap") == "0"
    size = dzi.find("{http://schemas.microsoft.com/deepzoom/2008}Size")
    assert (size.get("Width"), size.get("Height")) == ("517", "301")
    top = tmp_path / "orig_files" / "10"
    assert sorted(p.name for p in top.iterdir()) == ["0_0.png", "0_1.png", "1_0.png", "1_1.png", "2_0.png", "2_1.png"]
    np.testing.assert_array_equal(_read(top / "2_1.png"), a[256:, 512:])
    # Each lower level is our documented 2x2 mean of the level above.
    lvl9 = np.concatenate([_read(tmp_path / "orig_files/9/0_0.png"), _read(tmp_path / "orig_files/9/1_0.png")], axis=1)
    np.testing.assert_array_equal(lvl9, tiles.shrink2(a))
    assert _read(tmp_path / "orig_files/0/0_0.png").shape[:2] == (1, 1)
    assert not list(tmp_path.glob(".orig-*"))  # temporary folder cleaned up


@pytest.mark.parametrize("channels", [1, 4])
def test_update_tiles_equals_fresh_pyramid(tmp_path, channels):
    rng = np.random.default_rng(1)
    shape = (300, 700) if channels == 1 else (300, 700, 4)
    before = (rng.random(shape) * 255).astype(np.uint8)
    tiles.build_pyramid(before, tmp_path / "a", "mask")
    after = before.copy()
    rect = (240, 100, 40, 30)  # straddles the first and second tile column
    after[100:130, 240:280] = 17
    touched = tiles.update_tiles(lambda r: after[r[1]:r[1] + r[3], r[0]:r[0] + r[2]], rect,
                                 tmp_path / "a", "mask", 700, 300)
    assert (10, 0, 0) in touched and (10, 1, 0) in touched and (10, 2, 0) not in touched
    tiles.build_pyramid(after, tmp_path / "b", "mask")
    for level in range(tiles.level_count(700, 300)):
        cols, rows = tiles.tile_grid(level, 700, 300)
        for c in range(cols):
            for r in range(rows):
                got = _read(tiles.tile_path(tmp_path / "a", "mask", level, c, r))
                want = _read(tiles.tile_path(tmp_path / "b", "mask", level, c, r))
                np.testing.assert_array_equal(got, want, err_msg=f"tile {level}/{c}_{r}")


def test_render_tile_matches_pyramid(tmp_path):
    a = (np.random.default_rng(2).random((600, 600)) * 255).astype(np.uint8)
    tiles.build_pyramid(a, tmp_path, "m")
    x, y, w, h = tiles.tile_rect(9, 1, 0, 600, 600)
    np.testing.assert_array_equal(tiles.render_tile(a[y:y + h, x:x + w], 9, 600, 600),
                                  _read(tmp_path / "m_files/9/1_0.png"))


def test_jpeg_pyramid_and_bad_input(tmp_path):
    a = np.full((100, 300, 3), 200, np.uint8)
    info = tiles.build_pyramid(a, tmp_path, "o", fmt="jpeg")
    assert info["format"] == "jpeg" and (tmp_path / "o_files/9/1_0.jpeg").exists()
    with pytest.raises(MaskError, match="png"):
        tiles.build_pyramid(a, tmp_path, "o", fmt="gif")
    with pytest.raises(MaskError, match="uint8"):
        tiles.build_pyramid(a.astype(float), tmp_path, "o")
    with pytest.raises(MaskError, match="plain file name"):
        tiles.build_pyramid(a, tmp_path, "../escape")


def _listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_pyramid_is_built_beside_its_destination_and_renamed_in(tmp_path, monkeypatch):
    """Nothing is staged in the system temp folder or copied: a move across file systems is a
    copy a viewer could catch half done. While libvips writes, the old pyramid stays whole."""
    system_tmp = tmp_path / "systmp"
    system_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(system_tmp))
    monkeypatch.setattr("tempfile.tempdir", str(system_tmp))

    def no_copy(*a, **k):
        raise AssertionError("pyramids are published by rename, never copied")
    monkeypatch.setattr("shutil.move", no_copy)
    monkeypatch.setattr("shutil.copytree", no_copy)

    out = tmp_path / "view"
    old = np.zeros((300, 520), np.uint8)
    tiles.build_pyramid(old, out, "mask")
    before = _listing(out)
    seen = {}
    real_dzsave = tiles._dzsave

    def watching(a, base, fmt):
        assert base.parent.parent == out  # staged inside the destination folder
        real_dzsave(a, base, fmt)
        seen["during"] = _listing(out)
        seen["old tile"] = _read(out / "mask_files/10/0_0.png").max()
    monkeypatch.setattr(tiles, "_dzsave", watching)
    tiles.build_pyramid(np.full((300, 520), 255, np.uint8), out, "mask")
    # While the new pyramid was written, the served one was the old one, complete.
    assert [p for p in seen["during"] if not p.startswith(".")] == before and seen["old tile"] == 0
    assert _listing(out) == before  # no staging folder left over
    assert _read(out / "mask_files/10/2_1.png").min() == 255
    assert list(system_tmp.iterdir()) == []


def test_failed_build_leaves_the_old_pyramid(tmp_path, monkeypatch):
    out = tmp_path / "view"
    tiles.build_pyramid(np.zeros((40, 60), np.uint8), out, "mask")
    before = _listing(out)

    def broken(a, base, fmt):
        (base.parent / f"{base.name}_files").mkdir()
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(tiles, "_dzsave", broken)
    with pytest.raises(OSError, match="No space"):
        tiles.build_pyramid(np.full((40, 60), 255, np.uint8), out, "mask")
    assert _listing(out) == before and _read(out / "mask_files/6/0_0.png").max() == 0


@pytest.mark.parametrize("exchange", [True, False], ids=["atomic-swap", "rename-aside"])
def test_publish_pyramids_swaps_the_whole_set(tmp_path, monkeypatch, exchange):
    if not exchange:  # a system without renameat2(RENAME_EXCHANGE)
        monkeypatch.setattr(tiles, "_exchange", lambda a, b: False)
    dest = tmp_path / "img" / "tiles"
    rgb = np.full((90, 130, 3), 40, np.uint8)
    rgba = np.dstack([rgb, np.full((90, 130), 255, np.uint8)])
    info = tiles.publish_pyramids(dest, {"original": (rgb, "jpeg"), "cutout": (rgba, "png")})
    assert set(info) == {"original", "cutout"} and info["cutout"]["levels"] == 9
    first = _listing(dest)
    assert "original.dzi" in first and "cutout_files/8/0_0.png" in first
    (dest / "stale-from-old-version.txt").write_text("x")
    tiles.publish_pyramids(dest, {"original": (rgb + 100, "jpeg"), "cutout": (rgba, "png")})
    assert _listing(dest) == first  # replaced as a whole: nothing of the old set remains
    assert _read(dest / "original_files/8/0_0.jpeg").mean() > 120
    assert sorted(p.name for p in dest.parent.iterdir()) == ["tiles"]  # no staging or old copies
    with pytest.raises(MaskError, match="plain file name"):
        tiles.publish_pyramids(dest, {"a/b": (rgb, "png")})
    with pytest.raises(MaskError, match="at least one"):
        tiles.publish_pyramids(dest, {})


def test_libvips_failures_are_mask_errors(tmp_path, monkeypatch):
    """A full disk during dzsave, or a damaged child tile during an update, is a MaskError
    (one clear line at the command line), never pyvips' own exception."""
    import pyvips

    a = np.zeros((300, 520), np.uint8)
    tiles.build_pyramid(a, tmp_path, "mask")
    (tmp_path / "mask_files/10/1_0.png").write_bytes(b"not a png")  # a child the update reads
    with pytest.raises(MaskError, match="1_0.png of the pyramid cannot be read"):
        tiles.update_tiles(a, (0, 0, 10, 10), tmp_path, "mask", 520, 300)

    def full_disk(self, *args, **kwargs):
        raise pyvips.Error("unable to write to target", "No space left on device")
    monkeypatch.setattr(pyvips.Image, "dzsave", full_disk)
    with pytest.raises(MaskError, match="writing tiles failed"):
        tiles.build_pyramid(a, tmp_path / "b", "mask")
    assert list((tmp_path / "b").iterdir()) == []  # the staging folder is gone
