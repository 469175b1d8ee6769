"""Table-top AIR live: the projection the pages draw with, the Jupyter widget's render and inference, and the book's
gallery builder (what try_tabletop.js reads, and a build that refuses an export that disagrees with torch)."""
import json
import math
from importlib import resources

import numpy as np
import pytest
import torch

from airlib.experiments.tabletop import SPEC
from airlib.render.tabletop import TabletopRenderer, image_projection

SIZE = 128


@pytest.fixture(scope="module")
def renderer():
    with TabletopRenderer(SIZE, SPEC) as r:
        yield r


@pytest.fixture(scope="module")
def fixed_net():
    from airlib.pretrained import load_pretrained
    return load_pretrained("tabletop-air-sleep-type", 0)


def _project(h, xy):
    p = h @ np.array([*xy, 1.0])
    return p[:2] / p[2]


@pytest.mark.parametrize("camera", [0.0, 25.0, -40.0])
def test_projection_is_mujocos_camera(renderer, camera):
    """Against MuJoCo's own OpenGL camera after a render: its position, axes and frustum."""
    renderer.render([False] * 3, [-1] * 3, np.zeros((3, 3)), camera)
    cam = renderer._renderer.scene.camera
    pos = np.mean([np.asarray(c.pos) for c in cam], 0)                 # the two eyes of a mono render straddle it
    forward, up, near = np.asarray(cam[0].forward), np.asarray(cam[0].up), cam[0].frustum_near
    half = cam[0].frustum_top                                          # square image: the half-width too
    h = image_projection(SPEC, SIZE, camera)
    for xy in [(0.0, 0.0), (0.3, -0.2), (-0.25, 0.28), (0.5, 0.5)]:
        d = np.array([*xy, 0.0]) - pos
        x, y, z = d @ np.cross(forward, up), d @ up, d @ forward
        want = ((x / z * near / half + 1) * SIZE / 2, (1 - y / z * near / half) * SIZE / 2)
        np.testing.assert_allclose(_project(h, xy), want, atol=1e-3)     # MuJoCo holds its camera in float32


@pytest.mark.parametrize("kind, xy, camera", [(2, (0.1, 0.2), 0.0), (2, (-0.25, -0.1), 30.0), (2, (0.2, -0.15), -25.0)])
def test_projection_lands_on_the_rendered_plate(renderer, kind, xy, camera):
    """A plate (flat, so its pixels centre near its centre's projection) where the projection puts its centre."""
    empty = renderer.render([False] * 3, [-1] * 3, np.zeros((3, 3)), camera).astype(int)
    shown = renderer.render([True, False, False], [kind, -1, -1], np.array([[*xy, 0.3], [0, 0, 0], [0, 0, 0]]), camera)
    rows, cols = np.nonzero(np.abs(shown.astype(int) - empty).sum(-1) > 30)
    centre = (cols.mean() + 0.5, rows.mean() + 0.5)
    np.testing.assert_allclose(_project(image_projection(SPEC, SIZE, camera), xy), centre, atol=1.5)


def test_moving_the_camera_turns_the_table(renderer):
    """What the live page relies on: the projection at camera c is that at 0 of the point turned by -c."""
    c = math.radians(17.0)
    turn = np.array([[math.cos(-c), -math.sin(-c), 0], [math.sin(-c), math.cos(-c), 0], [0, 0, 1]])
    a, b = image_projection(SPEC, SIZE, 17.0), image_projection(SPEC, SIZE, 0.0) @ turn
    np.testing.assert_allclose(a / a[2, 2], b / b[2, 2], atol=1e-9)


def test_render_and_infer_is_the_network_on_the_render(renderer, fixed_net):
    from airlib.experiments.tabletop import air_infer
    from airlib.try_tabletop import render_and_infer
    present, kind = np.array([True, True, False]), np.array([0, 2, -1])
    pose = np.array([[-0.15, 0.1, 0.5], [0.12, -0.12, -1.0], [0.0, 0.0, 0.0]])
    out = render_and_infer(fixed_net, renderer, present, kind, pose, 0.0)
    image = renderer.render_batch(present[None], kind[None], pose[None])           # (1, 3, H, W) float
    assert np.array_equal(out["image"], (image[0].permute(1, 2, 0) * 255).round().byte().numpy())
    ref = air_infer(fixed_net, image)
    d = out["description"]
    assert np.array_equal(d.present, ref.present) and np.array_equal(d.kind, ref.kind)
    assert d.present.sum() == 2 and sorted(d.kind[d.present].tolist()) == [0, 2]   # it sees the cup and the plate
    np.testing.assert_allclose(d.pose[d.present], ref.pose[ref.present], atol=1e-5)
    assert np.array_equal(out["rerender"], renderer.render(d.present[0], d.kind[0], d.pose[0], float(d.camera[0])))
    assert out["q_pres"].shape == (3,) and out["q_pres"][0] > 0.5 > out["q_pres"][2]
    with pytest.raises(ValueError, match="off the table"):
        render_and_infer(fixed_net, renderer, present, kind, pose + [0.5, 0, 0], 0.0)


def test_widget_follows_its_scene_and_closes_its_renderer(fixed_net):
    import traitlets

    from airlib.try_tabletop import TabletopScene
    widget = TabletopScene(fixed_net)
    assert widget.result["count"] == 2 and {o["kind"] for o in widget.result["objects"]} == {"cup", "plate"}
    widget.scene = dict(present=[True, False, False], kind=[1, 0, 0], x=[0.0, 0, 0], y=[0.0, 0, 0], angle=[0, 0, 0],
                        camera=0)
    assert widget.result["count"] == 1 and widget.result["objects"][0]["kind"] == "pan"
    assert widget.result["image"].startswith("data:image/png;base64,") and widget.limits["moving_camera"] is False
    with pytest.raises(traitlets.TraitError, match="off the table"):
        widget.scene = dict(widget.scene, x=[0.9, 0, 0])
    with pytest.raises(traitlets.TraitError, match="3 slots"):
        widget.scene = dict(widget.scene, present=[True])
    widget.close()
    assert widget.renderer._renderer is None


def _keys_read_by_the_page():
    from airlib.book import live
    return live.GALLERY_KEYS + live.NETWORK_KEYS + live.SCENE_KEYS + live.DESCRIPTION_KEYS


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A site holding the gallery alone: 3 scenes per network, checked on 8 held-out scenes; and the checks."""
    from airlib.book import live
    root = tmp_path_factory.mktemp("site")
    return root, live.write_tabletop(root / "try_tabletop", gallery=3, scenes=8)


def test_the_gallery_holds_what_the_page_reads(site, renderer):
    from PIL import Image

    from airlib.book import live
    from airlib.tabletop_export import held_out
    root, checks = site
    tmp_path = root / "try_tabletop"
    assert all(c["ok"] and c["scenes"] == 8 for c in checks.values())
    js = resources.files("airlib.book").joinpath("try_tabletop.js").read_text()
    for key in _keys_read_by_the_page():
        assert f".{key}" in js, f"try_tabletop.js reads no {key}"
    gallery = json.loads((tmp_path / "gallery.json").read_text())
    assert set(gallery) == set(live.GALLERY_KEYS) and gallery["size"] == SIZE
    np.testing.assert_allclose(gallery["projection"], image_projection(SPEC, SIZE))
    for net, (_, name, _) in zip(gallery["networks"], live.TABLETOP):
        assert set(net) == set(live.NETWORK_KEYS) and net["name"] == name and (tmp_path / net["onnx"]).is_file()
        assert len(net["scenes"]) == 3
        truth, images = held_out(name, "paper", 8)
        for s in net["scenes"]:
            assert set(s) == set(live.SCENE_KEYS)
            assert set(s["truth"]) == set(s["torch"]) == set(live.DESCRIPTION_KEYS)
            pixels = np.asarray(Image.open(tmp_path / s["image"]))
            assert pixels.shape == (SIZE, SIZE, 3) and int(pixels.sum()) == s["pixel_sum"]
            assert np.array_equal(pixels, (images[s["held_out"]].permute(1, 2, 0) * 255).round().byte().numpy())
            assert s["truth"]["kind"] == truth.kind[s["held_out"]].tolist()
            t = s["torch"]
            again = renderer.render(t["present"], t["kind"], np.array(t["pose"]), t["camera"])
            assert np.array_equal(np.asarray(Image.open(tmp_path / s["rerender"])), again)


def test_the_build_refuses_an_export_that_disagrees_with_torch(tmp_path, monkeypatch):
    import copy

    from airlib.book import live
    from airlib.book.common import BookError
    from airlib.tabletop_export import export_tabletop_onnx

    def export_another(model, path, size):                   # the file holds a network whose presence differs
        other = copy.deepcopy(model)
        with torch.no_grad():
            other.heads.bias[0] -= 50.0
        return export_tabletop_onnx(other, path, size)
    monkeypatch.setattr("airlib.tabletop_export.export_tabletop_onnx", export_another)
    with pytest.raises(BookError, match="ONNX export of tabletop-air-sleep-type disagrees with the torch inference"):
        live.write_tabletop(tmp_path, gallery=1, scenes=8)
    assert not (tmp_path / "gallery.json").exists()


def test_the_readers_check_compares_the_browser_with_torch(site):
    """airlib.book.check on a browser report of the gallery: torch's answers pass, a wrong count or type is named."""
    from airlib.book.check import _problems
    root, _ = site
    gallery = json.loads((root / "try_tabletop" / "gallery.json").read_text())
    tests = {n["key"]: [dict(count=sum(s["torch"]["present"]), kind=[k for k in s["torch"]["kind"] if k >= 0],
                             differs="", decoded=True, shown=True) for s in n["scenes"]] for n in gallery["networks"]}
    report = dict(title="t", n_images=0, broken=[], errors=[], raw_tex=[], overflow=[], pipes=[], dead=[], external=[],
                  figures=[], live=None, tabletop=dict(state="ready", status="ready", tests=tests))
    assert _problems("book/try_tabletop", report, 0, root) == []
    wrong = tests["moving"][1]
    wrong["count"], wrong["kind"] = wrong["count"] + 1, wrong["kind"] + [0]
    tests["fixed"][0]["decoded"] = False
    problems = _problems("book/try_tabletop", report, 0, root)
    assert len(problems) == 2 and "fixed camera, held-out scene" in problems[0] and "other pixels" in problems[0]
    assert "moving camera, held-out scene" in problems[1] and "torch 1 of types [0]" in problems[1]
    report["tabletop"] = dict(state="error", status="could not load the networks", tests=None)
    assert _problems("book/try_tabletop", report, 0, root) == [
        "book/try_tabletop: the live table-top gallery did not run: could not load the networks"]
