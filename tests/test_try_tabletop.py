"""Table-top AIR live: the projection the pages draw with, and the Jupyter widget's render and inference."""
import math

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
