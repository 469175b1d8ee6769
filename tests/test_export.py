"""The ONNX export of AIR's inference (the live page): it must agree with model.infer, and say when it does not."""
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
