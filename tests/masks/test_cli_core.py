"""python -m masks synth / render / bench (bench is run in-process on a tiny stand-in)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from masks import bench, cli
from masks.imageio import decode_png, encode_png
from masks.ops import parse_op
from masks.render import render


def run(*args):
    return subprocess.run([sys.executable, "-m", "masks", *args], capture_output=True, text=True,
                          cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]))


@pytest.fixture
def base_png(tmp_path):
    base = np.zeros((60, 80), np.uint8)
    base[10:50, 10:70] = 255
    p = tmp_path / "base.png"
    p.write_bytes(encode_png(base))
    return base, p


OPS = [
    {"type": "path", "d": "M 20 20 H 40 V 40 H 20 Z", "mode": "subtract", "fill_rule": "nonzero"},
    {"type": "stroke", "mode": "keep", "points": [[30, 30], [35, 32]], "radius": 3, "hardness": 0.5},
]


def test_render_command_matches_library(tmp_path, base_png):
    base, p = base_png
    ops_file = tmp_path / "ops.json"
    ops_file.write_text(json.dumps(OPS))
    out = tmp_path / "out.png"
    assert cli.main(["render", str(p), str(ops_file), "-o", str(out)]) == 0
    assert np.array_equal(decode_png(out.read_bytes()), render(base, [parse_op(o) for o in OPS]))
    part = tmp_path / "part.png"
    assert cli.main(["render", str(p), str(ops_file), "-o", str(part), "--rect", "15,18,30,20"]) == 0
    assert np.array_equal(decode_png(part.read_bytes()), decode_png(out.read_bytes())[18:38, 15:45])


def test_render_command_refuses_bad_ops_with_a_message(tmp_path, base_png):
    _, p = base_png
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([OPS[0], {"type": "stroke", "mode": "keep", "points": [], "radius": 3, "hardness": 1}]))
    res = run("render", str(p), str(bad), "-o", str(tmp_path / "x.png"))
    assert res.returncode == 2
    assert "operation 1: points:" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "x.png").exists()
    bad.write_text("{not json")
    res = run("render", str(p), str(bad), "-o", str(tmp_path / "x.png"))
    assert res.returncode == 2 and "not JSON" in res.stderr
    res = run("render", str(tmp_path / "missing.png"), str(bad), "-o", str(tmp_path / "x.png"))
    assert res.returncode == 2 and "missing.png" in res.stderr


def test_synth_command_writes_the_four_files(tmp_path):
    out = tmp_path / "s"
    assert cli.main(["synth", "--kind", "ring", "--seed", "3", "--size", "160x120", "-o", str(out)]) == 0
    image, gt, ai = (decode_png((out / n).read_bytes()) for n in ("image.png", "gt.png", "ai.png"))
    assert image.shape == (120, 160, 3) and gt.shape == (120, 160) and ai.shape == (120, 160)
    defects = json.loads((out / "defects.json").read_text())
    assert isinstance(defects, list) and all(set(d) == {"kind", "bbox"} for d in defects)


def test_synth_refuses_a_bad_size(tmp_path):
    res = run("synth", "--kind", "ring", "--size", "big", "-o", str(tmp_path))
    assert res.returncode == 2 and "--size" in res.stderr


def test_bench_prints_one_json_object(monkeypatch, capsys):
    # the real bench is 24 MP; here the same code on a small frame proves the output's shape
    monkeypatch.setattr(bench, "W", 900)
    monkeypatch.setattr(bench, "H", 600)
    monkeypatch.setattr(bench, "base_mask", lambda: np.pad(np.full((400, 700), 255, np.uint8), ((100, 100), (100, 100))))
    monkeypatch.setattr(bench, "path_wire", lambda: {"type": "path", "d": "M 100 100 H 500 V 400 Z M 200 150 H 300 V 200 Z",
                                                     "mode": "add", "fill_rule": "evenodd"})
    monkeypatch.setattr(bench, "stroke_wires", lambda: [{"type": "stroke", "mode": "keep", "points": [[300, 300], [320, 310]],
                                                         "radius": 5, "hardness": 0.5}])
    monkeypatch.setattr(bench, "new_stroke_wire", lambda: {"type": "stroke", "mode": "keep",
                                                           "points": [[120, 120], [480, 480]], "radius": 20, "hardness": 1})
    assert cli.main(["bench", "--runs", "1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    fig = json.loads(out[0])
    for key in ("full_render", "dirty_rect", "parse_ops"):
        assert fig[key]["ms"] > 0 and fig[key]["x_floor"] > 0
    assert fig["floor_copy_ms"] > 0
    assert fig["dirty_rect"]["rect"] == [99, 99, 402, 402]
