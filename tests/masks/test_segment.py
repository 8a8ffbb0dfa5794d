"""First-pass segmentation: the ONNX adapter on models built here, and the weight-free default."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from masks import segment, synth
from masks.errors import MaskError
from masks.iobench import boundary_error, iou


def _model(path, size=None, out_rank=4, scale=1.0):
    """A one-layer 'segmentation model': 1x1 convolution that passes the red channel through."""
    h = w = size
    shape = [1, 3, h or "h", w or "w"]
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, h or "h", w or "w"] if out_rank == 4 else [1, h or "h", w or "w"])
    weight = numpy_helper.from_array(np.array([scale, 0, 0], np.float32).reshape(1, 3, 1, 1), "w")
    nodes = [helper.make_node("Conv", ["input", "w"], ["conv"])]
    if out_rank == 3:
        axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
        nodes.append(helper.make_node("Squeeze", ["conv", "axes"], ["mask"]))
        inits = [weight, axes]
    else:
        nodes.append(helper.make_node("Identity", ["conv"], ["mask"]))
        inits = [weight]
    graph = helper.make_graph(nodes, "tiny", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _red_left(w=101, h=67):
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (255, 0, 0)
    img[:, w // 2:] = (0, 0, 255)
    return img


@pytest.mark.parametrize("family", ["u2net", "u2netp", "isnet", "rmbg"])
def test_minmax_families_full_size_mask(tmp_path, family):
    seg = segment.make_segmenter(_model(tmp_path / f"{family}.onnx"), family)
    assert isinstance(seg, segment.OnnxSegmenter) and seg.size == (segment.FAMILIES[family].size,) * 2
    img = _red_left()
    alpha = seg.segment(img)
    assert alpha.shape == (67, 101) and alpha.dtype == np.uint8
    # Min-max output: the red half is 255, the blue half 0, away from the resized seam.
    assert alpha[:, :40].min() == 255 and alpha[:, 60:].max() == 0


def test_birefnet_sigmoid_and_normalisation(tmp_path):
    seg = segment.OnnxSegmenter(_model(tmp_path / "BiRefNet-general.onnx"))
    assert seg.family == "birefnet"  # guessed from the file name
    alpha = seg.segment(_red_left())
    mean, std = 0.485, 0.229
    want_red = 1 / (1 + np.exp(-(1 - mean) / std))     # ImageNet-normalised red = 1.0, then sigmoid
    want_blue = 1 / (1 + np.exp(-(0 - mean) / std))
    assert abs(int(alpha[10, 10]) - round(want_red * 255)) <= 1
    assert abs(int(alpha[10, 90]) - round(want_blue * 255)) <= 1


def test_fixed_input_size_and_rank3_output(tmp_path):
    seg = segment.OnnxSegmenter(_model(tmp_path / "m.onnx", size=32, out_rank=3), "u2net")
    assert seg.size == (32, 32)
    alpha = seg.segment(_red_left(300, 200))
    assert alpha.shape == (200, 300) and alpha[:, :100].min() == 255 and alpha[:, 200:].max() == 0


def test_onnx_bad_inputs(tmp_path):
    with pytest.raises(MaskError, match="not found"):
        segment.OnnxSegmenter(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a model")
    with pytest.raises(MaskError, match="not a loadable ONNX model"):
        segment.OnnxSegmenter(junk)
    with pytest.raises(MaskError, match="unknown model family"):
        segment.OnnxSegmenter(_model(tmp_path / "a.onnx"), "sam")
    with pytest.raises(MaskError, match="uint8"):
        segment.OnnxSegmenter(_model(tmp_path / "b.onnx")).segment(np.zeros((10, 10, 3), np.float32))
    assert segment.guess_family("models/u2netp.onnx") == "u2netp"
    assert segment.guess_family("briaai-RMBG-1.4.onnx") == "rmbg"


def test_default_is_weight_free_and_beats_plain_threshold():
    seg = segment.make_segmenter()
    assert isinstance(seg, segment.BackdropSegmenter)
    # One backdrop per kind keeps this quick; the benchmark (segment-bench) covers them all.
    gains = []
    for kind, backdrop in (("ring", "white"), ("chain", "lightgrey"), ("earring", "black"), ("pearls", "white")):
        s = synth.generate(kind, 11, size=(640, 480), backdrop=backdrop)
        ours = seg.segment(s.image)
        base = segment.plain_threshold(s.image)
        assert ours.shape == s.alpha.shape
        assert iou(ours, s.alpha) > 0.9, (kind, backdrop)
        assert iou(ours, s.alpha) > iou(base, s.alpha), (kind, backdrop)
        assert boundary_error(ours, s.alpha) < min(2.0, boundary_error(base, s.alpha)), (kind, backdrop)
        gains.append(iou(ours, s.alpha) - iou(base, s.alpha))
    assert np.mean(gains) > 0.05  # clearly better on average


def test_soft_alpha_on_the_edge_band_only():
    s = synth.generate("pearls", 4, size=(400, 300))
    a = segment.BackdropSegmenter().segment(s.image)
    soft = (a > 0) & (a < 255)
    assert soft.sum() > 100   # pearls' soft rims get partial alpha
    # ... and only near the object's edge: nothing soft deep in the backdrop or deep inside.
    from scipy import ndimage
    edge_dist = ndimage.distance_transform_edt(~((s.alpha > 0) & (s.alpha < 255)))
    assert np.percentile(edge_dist[soft], 95) <= 4


def test_plain_backdrop_gives_empty_mask_and_small_images_refused():
    flat = np.full((50, 60, 3), 240, np.uint8)
    flat += np.random.default_rng(0).integers(0, 2, flat.shape, dtype=np.uint8)
    assert segment.BackdropSegmenter().segment(flat).max() == 0
    with pytest.raises(MaskError, match="too small"):
        segment.BackdropSegmenter().segment(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(MaskError, match="model file"):
        segment.make_segmenter(family="u2net")


def _other_model(path, channels=1, elem=TensorProto.FLOAT):
    """A model that is not a 3-channel float32 background remover: ``channels`` inputs or
    another element type."""
    x = helper.make_tensor_value_info("input", elem, [1, channels, "h", "w"])
    y = helper.make_tensor_value_info("mask", elem, [1, channels, "h", "w"])
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["mask"])], "other", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def test_model_that_does_not_fit_is_a_clear_error(tmp_path):
    seg = segment.OnnxSegmenter(_other_model(tmp_path / "grey.onnx", channels=1), "u2net")
    with pytest.raises(MaskError, match=r"grey.onnx failed on this image \(is it a u2net"):
        seg.segment(_red_left())
    with pytest.raises(MaskError, match=r"half.onnx: input is tensor\(float16\)"):
        segment.OnnxSegmenter(_other_model(tmp_path / "half.onnx", 3, TensorProto.FLOAT16), "isnet")
