"""The ONNX export of AIR's inference (the live page): it must agree with model.infer, and say when it does not."""
import math

import numpy as np
import pytest
import torch

from airlib.air import AIR
from airlib.experiments.multi_mnist import smoke_model
from airlib.export import check_onnx, export_onnx


@pytest.mark.parametrize("difference", [False, True])
def test_onnx_agrees_with_infer(tmp_path, difference):
    torch.manual_seed(0)
    model = AIR(smoke_model(difference)).eval()
    with torch.no_grad():                    # a presence head that sometimes says yes, sometimes no
        model.head.fc.weight[0].normal_(0, 1.0)
        model.head.fc.bias[0] = 0.0
    images = torch.rand(64, 50, 50) * (torch.rand(64, 1, 1) < 0.6)
    path = export_onnx(model, tmp_path / "m.onnx")
    result = check_onnx(model, path, images, chunk=20)
    assert result["ok"] and result["images"] == 64 and result["count_mismatches"] == 0
    counts = model.infer(images).count
    assert 0 < counts.float().mean() < 3     # the check compared counts that vary


def test_check_notices_a_different_model(tmp_path):
    torch.manual_seed(0)
    model = AIR(smoke_model(False)).eval()
    with torch.no_grad():
        model.head.fc.bias[0] = 3.0          # every step present, so the decoder shows in the reconstruction
    path = export_onnx(model, tmp_path / "m.onnx")
    with torch.no_grad():
        model.decoder.fc2.bias.add_(0.5)      # the exported file no longer matches the model
    result = check_onnx(model, path, torch.rand(8, 50, 50))
    assert not result["ok"] and result["max_abs_reconstruction"] > 1e-3


def test_notebook_canvas_infers_what_is_drawn():
    """The Jupyter twin of the live page: setting its pixels gives model.infer's answer for that image."""
    from airlib.try_air import DrawAIR
    torch.manual_seed(0)
    model = AIR(smoke_model(False)).eval()
    with torch.no_grad():
        model.head.fc.weight[0].normal_(0, 1.0)
        model.head.fc.bias[0] = 0.0
    images = torch.rand(6, 50, 50)
    widget = DrawAIR(model, image=images[0])
    for x in images:
        widget.pixels = x.flatten().tolist()
        ref = model.infer(x[None])
        assert widget.result["count"] == int(ref.count[0])
        torch.testing.assert_close(torch.tensor(widget.result["z_where"]), ref.z_where[0])
        torch.testing.assert_close(torch.tensor(widget.result["reconstruction"]).view(50, 50), ref.reconstruction[0].clamp(0, 1))
    assert len(widget.result["q_pres"]) == model.config.max_steps


# ---------------------------------------------------------------- table-top AIR (airlib.tabletop_export)

def _tabletop(name, scenes=8):
    from airlib.pretrained import load_pretrained
    from airlib.tabletop_export import held_out
    truth, images = held_out(name, "paper", scenes)
    return load_pretrained(name, 0), truth, images


@pytest.mark.parametrize("name", ["tabletop-air-sleep-type", "tabletop-air-sleep-type-camera"])
def test_tabletop_onnx_agrees_with_air_infer_on_held_out_renders(tmp_path, name):
    from airlib.experiments.tabletop import air_infer
    from airlib.tabletop_export import check_tabletop_onnx, export_tabletop_onnx
    model, truth, images = _tabletop(name)
    path = export_tabletop_onnx(model, tmp_path / "t.onnx", images.shape[-1])
    result = check_tabletop_onnx(model, path, images, chunk=3)
    assert result["ok"] and result["scenes"] == len(images)
    assert result["count_mismatches"] == 0 and result["type_mismatches"] == 0
    counts = air_infer(model, images).present.sum(1)
    assert len(set(counts.tolist())) > 1                   # the check compared scenes of several counts
    assert (counts == truth.present.sum(1)).mean() >= 0.75  # and real ones: the committed network counts them


@pytest.mark.parametrize("name, part, index, shift, key", [
    ("tabletop-air-sleep-type", "heads", 0, -50.0, "count_mismatches"),       # presence: every step says no
    ("tabletop-air-sleep-type", "heads", 4, 0.5, "max_abs_pose"),             # x of every object moves
    ("tabletop-air-sleep-type", "heads", 2, 50.0, "type_mismatches"),         # every object a pan
    ("tabletop-air-sleep-type-camera", "camera_net", 0, 2e-4, "max_abs_camera"),  # the camera turns a little
])
def test_tabletop_check_notices_a_different_model(tmp_path, name, part, index, shift, key):
    from airlib.tabletop_export import CAMERA_TOLERANCE, POSE_TOLERANCE, check_tabletop_onnx, export_tabletop_onnx
    model, _, images = _tabletop(name, 6)
    path = export_tabletop_onnx(model, tmp_path / "t.onnx", images.shape[-1])
    layer = model.heads if part == "heads" else model.camera_net[-1]
    with torch.no_grad():
        layer.bias[index] += shift                        # the exported file no longer matches the model
    result = check_tabletop_onnx(model, path, images)
    assert not result["ok"] and result[key] > 0
    if key in ("max_abs_pose", "max_abs_camera"):
        assert result["count_mismatches"] == result["type_mismatches"] == 0   # a pose or camera alone fails it too
    if key == "max_abs_camera":
        assert result["max_abs_pose"] <= POSE_TOLERANCE and result["max_abs_camera"] > CAMERA_TOLERANCE


def test_tabletop_angles_are_compared_on_the_circle():
    from airlib.tabletop_export import pose_difference
    a = np.array([[0.1, -0.2, math.pi - 1e-6], [0.0, 0.0, 0.5]])
    b = np.array([[0.1, -0.1, -math.pi + 1e-6], [0.0, 0.0, -0.5]])
    np.testing.assert_allclose(pose_difference(a, b), [[0.0, 0.1, 2e-6], [0.0, 0.0, 1.0]], atol=1e-9)


@pytest.mark.parametrize("name, message", [
    ("tabletop-dair", "difference network"), ("tabletop-supervised", "supervised baseline"),
    ("no-such-network", "unknown experiment")])
def test_export_names_what_it_cannot_export(tmp_path, capsys, name, message):
    from airlib.__main__ import main
    assert main(["export", name, "--out", str(tmp_path)]) == 1
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_tabletop_graph_refuses_other_input():
    from airlib.tabletop_air import TabletopAIR
    from airlib.tabletop_export import TabletopGraph, as_uint8
    graph = TabletopGraph(TabletopAIR(hidden=16).eval(), 64)
    with pytest.raises(TypeError, match="uint8"):
        graph(torch.zeros(1, 64, 64, 3))
    with pytest.raises(ValueError, match=r"\(1, 64, 64, 3\), channels last"):
        graph(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match="difference network"):
        TabletopGraph(TabletopAIR(hidden=16, difference=True))
    with pytest.raises(ValueError, match="multiples of 1/255"):
        as_uint8(torch.full((1, 3, 32, 32), 0.3))
