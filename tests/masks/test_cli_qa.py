"""``python -m masks qa`` and ``qa-bench``."""
import json

import cv2
import numpy as np
from PIL import Image

from masks.cli import main


def _write_case(tmp_path):
    """A silver ring on white, its correct mask, and a mask with the hole left filled."""
    h, w = 240, 320
    big = np.zeros((h * 4, w * 4), np.uint8)
    cv2.circle(big, (640, 480), 280, 255, -1)
    cv2.circle(big, (640, 480), 170, 0, -1)
    cov = cv2.resize(big, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    img = np.array([150, 152, 158], np.float32) * cov[..., None] + np.array([247, 247, 245], np.float32) * (1 - cov[..., None])
    img += np.random.default_rng(1).normal(0, 1.2, (h, w, 1))
    Image.fromarray(np.clip(img + 0.5, 0, 255).astype(np.uint8)).save(tmp_path / "photo.png")
    Image.fromarray((cov * 255 + 0.5).astype(np.uint8)).save(tmp_path / "gt.png")
    filled = np.zeros((h, w), np.uint8)
    cv2.circle(filled, (160, 120), 70, 255, -1, cv2.LINE_AA)
    rgba = np.dstack([np.asarray(Image.open(tmp_path / "photo.png")), filled])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "ai.png")  # the mask as a PNG alpha channel
    return tmp_path / "photo.png", tmp_path / "gt.png", tmp_path / "ai.png"


def test_qa_json_reports_the_filled_hole(tmp_path, capsys):
    photo, _, ai = _write_case(tmp_path)
    heat = tmp_path / "heat.png"
    assert main(["qa", str(photo), "--mask", str(ai), "--json", "--heatmap", str(heat)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [f["kind"] for f in report["findings"]] == ["trapped_background"]
    x, y, w, h = report["findings"][0]["bbox"]
    assert abs(x + w / 2 - 160) < 4 and abs(y + h / 2 - 120) < 4
    assert report["heatmap_scale"] == 1.0 and report["backdrop"] == [247, 247, 245]
    hm = np.asarray(Image.open(heat))
    assert hm.shape == (240, 320) and hm[120, 160] > 100


def test_qa_text_output_on_a_right_mask_says_no_findings(tmp_path, capsys):
    photo, gt, _ = _write_case(tmp_path)
    assert main(["qa", str(photo), "--mask", str(gt)]) == 0
    out = capsys.readouterr().out
    assert "0 findings" in out and "320x240" in out


def test_qa_refuses_a_mask_of_another_size(tmp_path, capsys):
    photo, _, _ = _write_case(tmp_path)
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
    assert main(["qa", str(photo), "--mask", str(tmp_path / "small.png")]) == 2
    assert "error:" in capsys.readouterr().err


def test_qa_refuses_a_bad_backdrop(tmp_path, capsys):
    photo, gt, _ = _write_case(tmp_path)
    assert main(["qa", str(photo), "--mask", str(gt), "--backdrop", "pink"]) == 2
    assert "backdrop" in capsys.readouterr().err


def test_qa_bench_prints_recall_and_false_findings(capsys):
    assert main(["qa-bench", "--count", "4", "--seed", "5", "--size", "640x480"]) == 0
    out = capsys.readouterr().out
    for kind in ("trapped_background", "hole_in_object", "clipped_detail", "halo", "jagged_edge"):
        assert kind in out
    assert "false findings per image" in out


def test_qa_bench_json_and_bad_count(capsys):
    assert main(["qa-bench", "--count", "2", "--size", "400x300", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["count"] == 2 and set(res["recall"]) >= {"halo", "jagged_edge"}
    planted = sum(res["planted"].values())
    assert planted >= 4 and 0 <= sum(res["found"].values()) <= planted
    assert main(["qa-bench", "--count", "0"]) == 2
    assert "--count" in capsys.readouterr().err


def test_qa_refuses_missing_and_non_image_files_in_one_line(tmp_path, capsys):
    photo, gt, _ = _write_case(tmp_path)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    for argv in (["qa", str(tmp_path / "nope.png"), "--mask", str(gt), "--json"],
                 ["qa", str(photo), "--mask", str(tmp_path / "nope.png"), "--json"],
                 ["qa", str(junk), "--mask", str(gt), "--json"],
                 ["qa", str(photo), "--mask", str(junk), "--json"]):
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        err = captured.err.strip()
        assert err.startswith("error:") and "\n" not in err and "Traceback" not in err
