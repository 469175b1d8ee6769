"""Tests of airlib.render against independent references: a pinhole projection of the camera for
known moves, a slower supersampled central difference for the finite-difference gradient, and
torch.distributions for the likelihood."""
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import airlib.render.renderer as renderer_module
from airlib.render import OBJECTS, Renderer, RendererUnavailable, SceneSpec, check_scene, sample_scenes
from airlib.render.gradient import DEFAULT_EPS, render
from airlib.render.likelihood import blur, blur_matrix, downsample, gaussian_kernel, log_likelihood, pyramid_log_likelihood
from airlib.render.renderer import MAX_SIZE

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def renderer():
    with Renderer(128) as r:
        yield r


def project(spec: SceneSpec, point, size: int = 128) -> np.ndarray:
    """Pixel (column, row) of a world point under an ideal pinhole camera built from the spec."""
    pos, look = np.asarray(spec.camera_pos), np.asarray(spec.camera_lookat)
    fwd = (look - pos) / np.linalg.norm(look - pos)
    right = np.cross(fwd, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    d = np.asarray(point) - pos
    f = (size / 2) / math.tan(math.radians(spec.fovy) / 2)
    return np.array([size / 2 + f * d @ right / (d @ fwd), size / 2 - f * d @ up / (d @ fwd)])


def object_mask(image: np.ndarray, identity: int) -> np.ndarray:
    """Pixels of the object, told from the dark table and black background by colour."""
    r, g, b = (image[..., i].astype(float) for i in range(3))
    if identity == 0:  # red
        return (r > 40) & (r > 2 * g) & (r > 2 * b)
    if identity == 1:  # blue
        return (b > 40) & (b > 1.5 * r)
    return (np.maximum(r, g) > 110) | ((g > 1.3 * r) & (g > 60))  # white, grey or green


def surface_points(identity: int, pose, h: float) -> np.ndarray:
    """Points densely covering the object's surface (its silhouette is their projected hull)."""
    x, y, theta = pose
    u = np.linspace(-1, 1, 41)
    if identity == 0:  # the cube's edges
        local = []
        for c in ([-1, -1], [-1, 1], [1, -1], [1, 1]):
            for axis in range(3):
                pts = np.tile(np.insert(np.array(c, float), axis, 0.0), (41, 1))
                pts[:, axis] = u
                local.append(pts)
        local = np.concatenate(local) * h
    elif identity == 1:
        phi, psi = np.meshgrid(np.linspace(0, 2 * np.pi, 90), np.linspace(0, np.pi, 45))
        local = h * np.stack([np.sin(psi) * np.cos(phi), np.sin(psi) * np.sin(phi),
                              np.cos(psi)], -1).reshape(-1, 3)
    else:  # the two rims of the cylinder
        phi = np.linspace(0, 2 * np.pi, 180)
        local = np.concatenate([h * np.stack([np.cos(phi), np.sin(phi), np.full_like(phi, z)], 1)
                                for z in (-1, 1)])
    c, s = math.cos(theta), math.sin(theta)
    world = local @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]]) + np.array([x, y, h])
    return world


def bbox(points: np.ndarray) -> np.ndarray:
    return np.array([points[:, 0].min(), points[:, 1].min(), points[:, 0].max(), points[:, 1].max()])


@pytest.mark.parametrize("identity", [0, 1, 2])
def test_known_move_shifts_pixels_as_projected(renderer, identity):
    """The silhouette's bounding box, at two poses, is where an ideal pinhole camera puts the
    object's surface points, so a known move moves the pixels by the projected amount."""
    spec = renderer.spec
    for pose in [(-0.2, 0.0, 0.0), (0.2, 0.0, 0.0), (0.0, -0.25, 0.3), (0.1, 0.3, 0.7)]:
        mask = object_mask(renderer.render(identity, pose), identity)
        rows, cols = np.nonzero(mask)
        seen = np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], float)
        pts = surface_points(identity, pose, spec.object_half_size)
        expected = bbox(np.array([project(spec, p) for p in pts]))
        assert np.abs(seen - expected).max() < 1.5, (identity, pose, seen, expected)
    # +x moves right in the image, +y moves up (away from the camera).
    a = object_mask(renderer.render(identity, (0.0, 0.0, 0.0)), identity).nonzero()
    b = object_mask(renderer.render(identity, (0.05, 0.05, 0.0)), identity).nonzero()
    assert b[1].mean() - a[1].mean() > 2 and b[0].mean() - a[0].mean() < -1


def test_rotation_symmetries(renderer):
    def diff(identity, dtheta):
        a = renderer.render(identity, (0.1, 0.05, 0.4)).astype(float)
        b = renderer.render(identity, (0.1, 0.05, 0.4 + dtheta)).astype(float)
        return np.abs(a - b).mean()
    # A quarter turn leaves the cube (almost: lighting is fixed) and the sphere unchanged, but
    # not the textured cylinder, whose texture marks one side.
    assert diff(0, math.pi / 2) < 0.05 * diff(0, math.pi / 4)
    assert diff(1, 1.0) < 0.05
    assert diff(2, math.pi / 2) > 10 * max(diff(0, math.pi / 2), 0.05)
    assert diff(2, math.pi) > 0.5


def test_render_is_deterministic(renderer):
    ident, pose = sample_scenes(6, renderer.spec, np.random.default_rng(1))
    first = renderer.render_batch(ident, pose)
    renderer.render(2, (0.3, -0.3, 2.0))  # other scenes in between
    assert torch.equal(first, renderer.render_batch(ident, pose))
    with Renderer(128) as other:
        assert torch.equal(first, other.render_batch(ident, pose))


def test_batch_shape_and_range(renderer):
    ident, pose = sample_scenes(3, renderer.spec, np.random.default_rng(2))
    images = renderer.render_batch(ident, pose)
    assert images.shape == (3, 3, 128, 128) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1
    assert downsample(images, 32).shape == (3, 3, 32, 32)


@pytest.mark.parametrize("identity,pose,message", [
    ("cone", (0, 0, 0), "unknown object type"),
    (3, (0, 0, 0), "unknown object type"),
    (-1, (0, 0, 0), "unknown object type"),
    (0, (float("nan"), 0, 0), "finite"),
    (0, (0, 0, float("inf")), "finite"),
    (0, (0.6, 0, 0), "off the table"),
    (1, (0, -0.36, 0), "off the table"),
    (0, (0, 0), "shape"),
])
def test_bad_scenes_raise_clear_errors(renderer, identity, pose, message):
    with pytest.raises(ValueError, match=message):
        check_scene(identity, pose, renderer.spec)
    with pytest.raises(ValueError, match=message):
        renderer.render(identity, pose)
    if len(pose) == 3 and not isinstance(identity, str):
        with pytest.raises(ValueError, match=message):
            render(torch.tensor([identity]), torch.tensor([pose], dtype=torch.float64), renderer)


def test_names_and_indices_agree(renderer):
    assert np.array_equal(renderer.render("sphere", (0.1, 0.1, 0)), renderer.render(1, (0.1, 0.1, 0)))
    assert OBJECTS == ("cube", "sphere", "cylinder")


def test_closed_renderer_refuses(renderer):
    r = Renderer(32)
    r.close()
    r.close()
    with pytest.raises(RuntimeError, match="closed"):
        r.render(0, (0, 0, 0))


def test_missing_gl_backend_names_debian_packages():
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.update(MUJOCO_GL="glx", PYTHONPATH=str(ROOT))
    code = ("from airlib.render import Renderer, RendererUnavailable\n"
            "try:\n    Renderer(32)\nexcept RendererUnavailable as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert "libegl1" in out.stdout and "libosmesa6" in out.stdout, out.stdout + out.stderr
    assert issubclass(RendererUnavailable, RuntimeError)


def test_likelihood_matches_torch_normal():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    expected = torch.distributions.Normal(y, 0.2).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(log_likelihood(x, y, 0.2, 0.0), expected, rtol=1e-5)
    # Blurring is linear and preserves a constant image, with a normalised kernel.
    assert torch.isclose(gaussian_kernel(2.0).sum(), torch.tensor(1.0))
    c = torch.full((1, 3, 16, 16), 0.7)
    assert torch.allclose(blur(c, 2.0), c)
    assert torch.allclose(blur(x + y, 1.5), blur(x, 1.5) + blur(y, 1.5), atol=1e-6)
    # A strided blur is the full blur subsampled.
    big = torch.rand(2, 3, 32, 32, generator=g)
    assert torch.allclose(blur(big, 3.0, stride=4), blur(big, 3.0)[..., ::4, ::4], atol=1e-6)
    # The likelihood is largest where the rendering equals the observation.
    assert (log_likelihood(x, x, 0.1, 2.0) > log_likelihood(x, y, 0.1, 2.0)).all()


def _conv_blur(images, sigma, stride):
    """A second implementation of the blur: replicate-pad, then two depthwise convolutions."""
    k = gaussian_kernel(sigma)
    r, c = (k.numel() - 1) // 2, images.shape[1]
    out = torch.nn.functional.pad(images, (r, r, r, r), mode="replicate")
    out = torch.nn.functional.conv2d(out, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c, stride=(1, stride))
    return torch.nn.functional.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c, stride=(stride, 1))


@pytest.mark.parametrize("sigma,stride", [(0.7, 1), (2.0, 1), (2.0, 3), (16.0, 4)])
def test_blur_as_matrices_equals_the_convolution(sigma, stride):
    """The matrix form (borders folded into the edge rows) against the padded convolution, on a
    non-square image smaller than the 16-pixel kernel's reach; gradients too."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 37, 50, generator=g, requires_grad=True)
    a, b = blur(x, sigma, stride), _conv_blur(x, sigma, stride)
    assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5)
    w = torch.rand(a.shape, generator=g)
    ga, = torch.autograd.grad((a * w).sum(), x)
    gb, = torch.autograd.grad((b * w).sum(), x)
    assert torch.allclose(ga, gb, atol=1e-5)


@pytest.mark.parametrize("n,sigma,stride,message", [(0, 2.0, 1, "length >= 1"), (8, 2.0, 0, "stride"),
                                                    (8, -1.0, 1, "sigma"), (8.5, 2.0, 1, "length")])
def test_blur_matrix_refuses_bad_arguments(n, sigma, stride, message):
    with pytest.raises(ValueError, match=message):
        blur_matrix(n, sigma, stride)


def test_pyramid_likelihood_is_a_gaussian_of_the_stacked_blurred_images():
    """With unit weights, the pyramid's likelihood is one Gaussian over the blurred images of every
    level, stacked (torch's Normal as the reference); weights scale each level's term."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g)
    levels = ((6.0, 4), (1.0, 1))
    stack = lambda im: torch.cat([blur(im, b, s).flatten(1) for b, s in levels], 1)  # noqa: E731
    expected = torch.distributions.Normal(stack(y), 0.2).log_prob(stack(x)).sum(1)
    assert torch.allclose(pyramid_log_likelihood(x, y, 0.2, levels), expected, rtol=1e-5)
    half = pyramid_log_likelihood(x, y, 0.2, levels, (1.0, 0.5))
    assert torch.allclose(half, log_likelihood(x, y, 0.2, 6.0, 4) + 0.5 * log_likelihood(x, y, 0.2, 1.0, 1), rtol=1e-5)
    assert torch.allclose(pyramid_log_likelihood(x, y, 0.2, levels, (1.0, 0.0)), log_likelihood(x, y, 0.2, 6.0, 4))
    for bad, message in [((), "levels"), (((2.0,),), "levels"), ((2.0, 1), "levels")]:
        with pytest.raises(ValueError, match=message):
            pyramid_log_likelihood(x, y, 0.2, bad)
    for weights in [(1.0,), (1.0, -0.5), (1.0, float("nan"))]:
        with pytest.raises(ValueError, match="weights"):
            pyramid_log_likelihood(x, y, 0.2, levels, weights)


def test_finite_difference_gradient_against_supersampled_central_difference(renderer):
    """Autograd through the forward finite difference (default eps) agrees with an independent,
    slower reference: a central difference of the scalar likelihood, rendered at 512x512 and
    area-averaged to 128x128. The likelihood is the 3D model's narrow level (2 px, every pixel),
    which decides the angle; its wide level is checked in the benchmark (benchmarks/render.py)."""
    sigma_x, blur_px = 0.1, 2.0
    ident = torch.tensor([0, 1, 2, 2])
    truth = torch.tensor([[0.1, 0.0, 0.3], [-0.2, 0.15, 0.0], [0.0, -0.1, 1.0], [0.2, 0.2, -2.0]])
    start = truth + torch.tensor([[0.03, -0.02, 0.1], [-0.02, -0.03, 0.0], [0.02, 0.03, 0.2],
                                  [-0.03, 0.01, -0.25]])
    x = renderer.render_batch(ident, truth)
    pose = start.double().requires_grad_(True)
    log_likelihood(x.double(), render(ident, pose, renderer), sigma_x, blur_px).sum().backward()
    grad = pose.grad.numpy()

    ref = np.zeros((4, 3))
    steps = (3e-3, 3e-3, 1e-2)
    with Renderer(512) as big:
        def ll(i, p):
            y = F.interpolate(big.render_batch(ident[i:i + 1], p[None], check=False),
                              size=(128, 128), mode="area")
            return log_likelihood(x[i:i + 1], y, sigma_x, blur_px).item()
        for i in range(4):
            for k in range(3):
                e = np.zeros(3)
                e[k] = steps[k]
                p = start[i].double().numpy()
                ref[i, k] = (ll(i, p + e) - ll(i, p - e)) / (2 * steps[k])
    xy, ref_xy = grad[:, :2], ref[:, :2]
    assert np.all(np.sign(xy) == np.sign(ref_xy)), (xy, ref_xy)
    assert np.abs(xy - ref_xy).max() < 0.25 * np.abs(ref_xy).max(), (xy, ref_xy)
    # The cylinder's texture gives a rotational gradient that points home.
    # A turn of the sphere only moves its tessellation's shading: a small rotational gradient.
    assert abs(grad[1, 2]) < 0.2 * abs(grad[3, 2]) and abs(ref[1, 2]) < 0.2 * abs(ref[3, 2])
    assert np.all(np.sign(grad[2:, 2]) == np.sign(ref[2:, 2])), (grad[:, 2], ref[:, 2])
    assert np.all(grad[2:, 2] * (truth[2:, 2] - start[2:, 2]).numpy() > 0)
    # The gradient ascends: a small step along it raises the likelihood.
    with torch.no_grad():
        moved = (start.double() + 1e-5 * torch.tensor(grad) / np.abs(grad).max() * 1e3)
        before = log_likelihood(x.double(), renderer.render_batch(ident, start).double(), sigma_x, blur_px)
        after = log_likelihood(x.double(), renderer.render_batch(ident, moved).double(), sigma_x, blur_px)
    assert (after > before).all(), (before, after)
    assert DEFAULT_EPS[0] > 0


@pytest.mark.parametrize("size,error", [
    (0, ValueError), (-1, ValueError), (MAX_SIZE + 1, ValueError),
    ("64", TypeError), (1.5, TypeError), (64.0, TypeError), (True, TypeError), (None, TypeError),
])
def test_bad_renderer_size_is_refused_before_any_gl_call(monkeypatch, size, error):
    """A bad size names the argument and its range, and is never blamed on the GL packages."""
    def no_gl(*args, **kwargs):
        raise AssertionError("an OpenGL call was made")
    monkeypatch.setattr(renderer_module.mujoco, "Renderer", no_gl)
    monkeypatch.setattr(renderer_module.mujoco.MjModel, "from_xml_string", no_gl)
    expected = rf"size must be an integer number of pixels in 1\.\.{MAX_SIZE}"
    for make in (Renderer, renderer_module.shared_renderer):
        with pytest.raises(error, match=expected) as info:
            make(size)
        assert "libegl" not in str(info.value)
    with pytest.raises(TypeError, match="spec must be a SceneSpec"):
        Renderer(32, spec={"fovy": 43})


def test_renderer_accepts_numpy_sizes():
    with Renderer(np.int64(16)) as r:
        assert r.size == 16 and type(r.size) is int
        assert r.render(0, (0, 0, 0)).shape == (16, 16, 3)


@pytest.mark.parametrize("identity,pose,shapes", [
    ([0, 1], np.zeros((3, 3)), r"identity \(2,\) and pose \(3, 3\)"),
    ([0, 1, 2], np.zeros((2, 3)), r"identity \(3,\) and pose \(2, 3\)"),
    (torch.tensor([0, 1]), torch.zeros(3, 3), r"identity \(2,\) and pose \(3, 3\)"),
    ([[0, 1]], np.zeros((2, 3)), r"identity \(1, 2\) and pose \(2, 3\)"),
    ([0], np.zeros((1, 2)), r"identity \(1,\) and pose \(1, 2\)"),
    ([0], np.zeros(3), r"identity \(1,\) and pose \(3,\)"),
    (0, np.zeros((1, 3)), r"identity \(\) and pose \(1, 3\)"),
])
@pytest.mark.parametrize("check", [True, False])
def test_render_batch_refuses_mismatched_shapes(renderer, identity, pose, shapes, check):
    with pytest.raises(ValueError, match=shapes):
        renderer.render_batch(identity, pose, check=check)


def test_render_batch_checks_identities_and_takes_an_empty_batch(renderer):
    with pytest.raises(ValueError, match="unknown object type"):
        renderer.render_batch(np.array([0.5]), np.zeros((1, 3)))  # not truncated to 0
    named = renderer.render_batch(["cube", "sphere"], np.zeros((2, 3)))
    assert torch.equal(named, renderer.render_batch([0, 1], np.zeros((2, 3))))
    for pose in (np.zeros((0, 3)), []):
        assert renderer.render_batch([], pose).shape == (0, 3, 128, 128)


@pytest.mark.parametrize("sigma,stride,message", [
    (-1.0, 1, "blur sigma must be"), (-1e-9, 1, "blur sigma must be"),
    (float("nan"), 1, "blur sigma must be"), (float("inf"), 1, "blur sigma must be"),
    ("2", 1, "blur sigma must be"), (2.0, 0, "blur stride must be"), (2.0, -1, "blur stride must be"),
    (2.0, 1.5, "blur stride must be"),
])
def test_blur_refuses_bad_sigma_and_stride(sigma, stride, message):
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match=message):
        blur(x, sigma, stride)
    with pytest.raises(ValueError, match=message):
        log_likelihood(x, x, 0.1, sigma, stride)


def test_zero_blur_is_the_identity_and_bad_noise_is_refused():
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(blur(x, 0), x) and torch.equal(blur(x, 0.0, 2), x[..., ::2, ::2])
    assert torch.allclose(blur(x, np.float32(1.0)), blur(x, 1.0))
    for sigma in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="sigma"):
            gaussian_kernel(sigma)
        with pytest.raises(ValueError, match="sigma_x"):
            log_likelihood(x, x, sigma, 1.0)


@pytest.mark.parametrize("fields,error,message", [
    (dict(fovy=0), ValueError, r"fovy must be in \(0, 180\)"),
    (dict(fovy=-5.0), ValueError, r"fovy must be in \(0, 180\)"),
    (dict(fovy=180), ValueError, r"fovy must be in \(0, 180\)"),
    (dict(fovy=float("nan")), ValueError, "fovy must be finite"),
    (dict(fovy="43"), TypeError, "fovy must be a number"),
    (dict(table_half_width=0.0), ValueError, "table_half_width must be positive"),
    (dict(object_half_size=-0.1), ValueError, "object_half_size must be positive"),
    (dict(placement_half_width=0), ValueError, "placement_half_width must be positive"),
    (dict(table_half_width=float("inf")), ValueError, "table_half_width must be finite"),
    (dict(placement_half_width=0.45), ValueError, "stands fully on the table"),
    (dict(camera_pos=(0.0, -1.0)), ValueError, "camera_pos must be three finite numbers"),
    (dict(camera_lookat=(0.0, float("nan"), 0.0)), ValueError, "camera_lookat must be three finite"),
    (dict(camera_pos="abc"), ValueError, "camera_pos must be three finite numbers"),
    (dict(camera_lookat=(0.0, -0.95, 1.25)), ValueError, "sit on its target"),
    (dict(camera_pos=(0.0, 0.0, 2.0), camera_lookat=(0.0, 0.0, 0.0)), ValueError, "straight up or down"),
    (dict(offsamples=-1), ValueError, "offsamples must be an integer >= 0"),
    (dict(offsamples=1.5), TypeError, "offsamples must be an integer >= 0"),
])
def test_bad_scene_spec_is_refused(fields, error, message):
    with pytest.raises(error, match=message):
        SceneSpec(**fields)


def test_scene_spec_stores_canonical_values():
    spec = SceneSpec(camera_pos=[0, -0.95, 1.25], camera_lookat=np.array([0.0, -0.02, 0.0]),
                     fovy=np.float32(43.0), offsamples=np.int64(8))
    assert spec == SceneSpec() and hash(spec) == hash(SceneSpec())
    # A narrow and a wide, still valid, field of view both show the scene (not a black image).
    for fovy in (5.0, 90.0):
        with Renderer(32, SceneSpec(fovy=fovy)) as r:
            assert r.render(0, (0, 0, 0)).max() > 20
