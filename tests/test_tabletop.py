"""Table-top scenes (Sec. III-B): the crockery meshes against exact volumes, the renderer against a pinhole
camera computed here, and the scene sampler against the distributions of Eq. (8)."""
import math
import re

import numpy as np
import pytest
import torch

from airlib import tabletop_scenes
from airlib.render import crockery
from airlib.render.tabletop import KINDS, TableSpec, TabletopRenderer, check_scene


# ------------------------------------------------------------------ meshes

def _faceted_volume(profile, segments: int, closed: bool) -> float:
    """The volume of a profile turned about z in ``segments`` flat facets, computed independently of the mesh.

    Each profile point sweeps a regular K-gon of area (K / 2) r^2 sin(2 pi / K), so the solid's volume is
    K sin(2 pi / K) times the first moment of the profile's area about the axis, int int r dr dz.
    """
    p = np.asarray(profile, float)
    p = np.vstack([p, p[:1]])             # back to the start (along the axis, for an open profile)
    r, z = p[:-1, 0], p[:-1, 1]
    r1, z1 = p[1:, 0], p[1:, 1]
    moment = np.sum((r + r1) * (r * z1 - r1 * z)) / 6           # int int r dA of a polygon
    return segments * math.sin(2 * math.pi / segments) * moment


def _all_parts():
    return [(kind, part) for kind in crockery.MAKERS for part in crockery.parts(kind)]


@pytest.mark.parametrize("kind, part", _all_parts(), ids=lambda x: x if isinstance(x, str) else x.name)
def test_every_mesh_is_closed_and_faces_outward(kind, part):
    faces = part.mesh.faces
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    directed = set(map(tuple, edges.tolist()))
    assert len(directed) == len(edges), "an edge is used twice in the same direction (faces flipped or not manifold)"
    assert all((b, a) in directed for a, b in directed), "an edge has no opposite: the surface has a hole"
    a, b, c = (part.mesh.vertices[faces[:, i]] for i in range(3))
    assert np.linalg.norm(np.cross(b - a, c - a), axis=1).min() > 1e-9, "a degenerate triangle"
    assert crockery.signed_volume(part.mesh) > 0, "the faces point inward"


def test_enclosed_volumes_match_the_exact_faceted_solid():
    k = crockery.SEGMENTS
    cases = [([(0, 0), (0.07, 0), (0.07, 0.12), (0.064, 0.12), (0.064, 0.006), (0, 0.006)], False),   # the cup
             ([(0, 0), (0.011, 0), (0.011, 0.12), (0, 0.12)], False),                                 # a rod
             (crockery.circle(0.032, 0.0, 0.008), True)]                                              # a torus
    for profile, closed in cases:
        mesh = crockery.revolve(profile, k, closed=closed)
        assert crockery.signed_volume(mesh) == pytest.approx(_faceted_volume(profile, k, closed), rel=1e-9)
    prism = crockery.revolve([(0, 0), (0.011, 0), (0.011, 0.12), (0, 0.12)], k)
    assert crockery.signed_volume(prism) == pytest.approx(k / 2 * 0.011 ** 2 * math.sin(2 * math.pi / k) * 0.12)
    assert crockery.signed_volume(crockery.parts("cup")[0].mesh) == pytest.approx(
        _faceted_volume(cases[0][0], k, False))


@pytest.mark.parametrize("profile, closed, message", [
    ([(0, 0), (1, 0)], False, "P >= 3"),
    ([(0.1, 0), (1, 0), (0, 1)], False, "starts and ends on the axis"),
    ([(0, 0), (-1, 0), (0, 1)], False, "r >= 0"),
    ([(0, 0), (1, 0), (1, 1)], True, "off the axis"),
])
def test_bad_profiles_are_named(profile, closed, message):
    with pytest.raises(ValueError, match=message):
        crockery.revolve(profile, closed=closed)


def test_unknown_crockery_is_named():
    with pytest.raises(ValueError, match="unknown crockery 'bowl'"):
        crockery.parts("bowl")


# ------------------------------------------------------------------ renderer

@pytest.fixture(scope="module")
def renderer():
    with TabletopRenderer(128) as r:
        yield r


def _pinhole(spec: TableSpec, camera_deg: float, size: int, points: np.ndarray) -> np.ndarray:
    """Pixel coordinates of world points seen by the free camera (lookat origin), computed from the spec."""
    az, el = math.radians(spec.azimuth + camera_deg), math.radians(spec.elevation)
    forward = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
    eye = -spec.distance * forward
    right = np.cross(forward, [0, 0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    rel = points - eye
    depth = rel @ forward
    f = size / 2 / math.tan(math.radians(spec.fovy) / 2)
    return np.stack([size / 2 + f * (rel @ right) / depth, size / 2 - f * (rel @ up) / depth], 1)


def _cross2(u, v) -> float:
    return u[0] * v[1] - u[1] * v[0]


def _hull_area(xy: np.ndarray) -> float:
    pts = sorted(map(tuple, xy))
    def half(points):
        out = []
        for p in points:
            while len(out) >= 2 and _cross2(np.subtract(out[-1], out[-2]), np.subtract(p, out[-2])) <= 0:
                out.pop()
            out.append(p)
        return out
    hull = half(pts)[:-1] + half(pts[::-1])[:-1]
    x, y = np.array(hull).T
    return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


def _euler_xyz(degrees) -> np.ndarray:
    """MuJoCo's default euler sequence, intrinsic x-y-z: R = Rx Ry Rz."""
    a, b, c = np.radians(degrees)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return rx @ ry @ rz


def _world_vertices(kind: str, xy=(0.0, 0.0)) -> np.ndarray:
    return np.concatenate([part.mesh.vertices @ _euler_xyz(part.euler).T + np.add(part.pos, (*xy, 0.0))
                           for part in crockery.parts(kind)])


def test_the_camera_stands_where_the_spec_puts_it(renderer):
    spec = renderer.spec
    empty = (np.zeros(3, bool), np.full(3, -1), np.zeros((3, 3)))
    for cam in (-40.0, 0.0, 25.0, 40.0):
        renderer.render(*empty, camera=cam)
        pos = renderer.camera_position()
        az, el = math.radians(spec.azimuth + cam), math.radians(spec.elevation)
        want = -spec.distance * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        assert np.allclose(pos, want, atol=1e-4)
        # the orbit: turned from the central position (on -y) by the camera angle, at a fixed height
        assert math.degrees(math.atan2(pos[0], -pos[1])) == pytest.approx(cam, abs=1e-3)
        assert pos[2] == pytest.approx(-spec.distance * math.sin(el), abs=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_silhouettes_have_the_size_a_pinhole_camera_gives(renderer, kind):
    k = KINDS.index(kind)
    empty = renderer.render(np.zeros(3, bool), np.full(3, -1), np.zeros((3, 3)))
    image = renderer.render([True, False, False], [k, -1, -1], np.zeros((3, 3)))
    pixels = int((np.abs(image.astype(int) - empty.astype(int)).sum(-1) > 30).sum())
    hull = _hull_area(_pinhole(renderer.spec, 0.0, renderer.size, _world_vertices(kind)))
    body = _hull_area(_pinhole(renderer.spec, 0.0, renderer.size, crockery.parts(kind)[0].mesh.vertices))
    # the silhouette lies between the body's outline and the convex hull of body and handle
    assert 0.85 * body <= pixels <= 1.1 * hull, (pixels, body, hull)
    if kind == "plate":                       # a convex outline: the two agree closely
        assert pixels == pytest.approx(hull, rel=0.1)


def test_unused_replicas_leave_no_trace_and_slot_order_does_not_matter(renderer):
    empty = renderer.render(np.zeros(3, bool), np.full(3, -1), np.zeros((3, 3)))
    pose = np.array([[-0.2, -0.1, 0.3], [0.2, 0.15, 1.0], [0.0, 0.2, 2.0]])
    full = renderer.render([1, 1, 1], [0, 0, 2], pose)
    assert np.abs(full.astype(int) - empty.astype(int)).sum() > 0
    again = renderer.render(np.zeros(3, bool), np.full(3, -1), np.zeros((3, 3)))
    assert np.array_equal(again, empty)
    order = [2, 0, 1]
    swapped = renderer.render(np.ones(3, bool), np.array([0, 0, 2])[order], pose[order])
    assert np.abs(swapped.astype(int) - full.astype(int)).max() <= 2


def test_render_batch_matches_single_renders(renderer):
    s = tabletop_scenes.sample_scenes(4, np.random.default_rng(0), moving_camera=True)
    batch = renderer.render_batch(s.present, s.kind, s.pose, s.camera)
    assert batch.shape == (4, 3, 128, 128) and 0 <= batch.min() and batch.max() <= 1
    one = renderer.render(s.present[2], s.kind[2], s.pose[2], s.camera[2])
    assert np.array_equal((batch[2].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8), one)


@pytest.mark.parametrize("scene, message", [
    (([1, 0, 0], [3, -1, -1], np.zeros((3, 3)), 0.0), "kind must be integers in 0..2"),
    (([1, 1, 1, 1], [0, 0, 0, 0], np.zeros((4, 3)), 0.0), "at most 3 of each kind"),
    (([1, 0, 0], [0, -1, -1], [[0.5, 0, 0], [0, 0, 0], [0, 0, 0]], 0.0), "off the table"),
    (([1, 0, 0], [0, -1, -1], np.zeros((3, 3)), 41.0), "outside +-40"),
    (([1, 0, 0], [0, -1, -1], np.zeros((3, 2)), 0.0), "pose (N, 3)"),
    (([1, 0, 0], [0, -1, -1], [[np.nan, 0, 0], [0, 0, 0], [0, 0, 0]], 0.0), "finite"),
    (([2, 0, 0], [0, -1, -1], np.zeros((3, 3)), 0.0), "0/1 or bool"),
])
def test_bad_scenes_are_named(scene, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_scene(*scene, TableSpec())


# ------------------------------------------------------------------ the scene model, Eq. (8)

def test_presence_and_type_follow_eq_8():
    prior = tabletop_scenes.ScenePrior(alpha=0.6, beta=(0.5, 0.3, 0.2))
    s = tabletop_scenes.sample_scenes(20000, np.random.default_rng(1), repeats=True, prior=prior)
    sd = math.sqrt(0.6 * 0.4 / s.present.size)
    assert abs(s.present.mean() - 0.6) < 5 * sd
    counts = np.bincount(s.count, minlength=4) / len(s.count)
    binomial = [math.comb(3, k) * 0.6 ** k * 0.4 ** (3 - k) for k in range(4)]
    assert np.allclose(counts, binomial, atol=0.015)               # n = sum z_pres ~ Binomial(N, alpha)
    kinds = s.kind[s.present]
    assert np.allclose(np.bincount(kinds, minlength=3) / len(kinds), prior.beta, atol=0.015)
    assert np.all(s.kind[~s.present] == -1)


def test_types_repeat_only_in_the_set_with_repetitions():
    rng = np.random.default_rng(2)
    plain = tabletop_scenes.sample_scenes(5000, rng, repeats=False)
    for present, kind in zip(plain.present, plain.kind):
        assert len(set(kind[present])) == present.sum()
    assert np.allclose(np.bincount(plain.kind[plain.present], minlength=3) / plain.present.sum(), 1 / 3, atol=0.02)
    rep = tabletop_scenes.sample_scenes(5000, rng, repeats=True)
    three = rep.present.all(1)
    repeated = np.mean([len(set(k)) < 3 for k in rep.kind[three]])
    assert repeated == pytest.approx(1 - 6 / 27, abs=0.04)          # 1 - 3!/3^3 with uniform beta


def test_objects_stand_on_the_table_apart_and_the_camera_stays_in_range():
    spec = TableSpec()
    s = tabletop_scenes.sample_scenes(3000, np.random.default_rng(3), moving_camera=True)
    assert np.abs(s.pose[..., :2][s.present]).max() <= spec.placement_half_width
    assert np.all(np.abs(s.pose[..., 2]) <= math.pi)
    radius = np.array([crockery.BODY_RADIUS[k] for k in KINDS])
    for present, kind, pose in zip(s.present, s.kind, s.pose):
        idx = np.flatnonzero(present)
        for a in idx:
            for b in idx[idx > a]:
                assert np.hypot(*(pose[a, :2] - pose[b, :2])) >= radius[kind[a]] + radius[kind[b]] + tabletop_scenes.GAP - 1e-6
    assert np.abs(s.camera).max() <= spec.camera_range
    assert s.camera.min() < -35 and s.camera.max() > 35                  # the whole range is used
    assert np.std(s.camera) == pytest.approx(spec.camera_range / math.sqrt(3), rel=0.05)
    fixed = tabletop_scenes.sample_scenes(10, np.random.default_rng(3))
    assert np.all(fixed.camera == 0)


def test_sampling_is_a_function_of_the_seed():
    a = tabletop_scenes.sample_scenes(50, np.random.default_rng(7), moving_camera=True)
    b = tabletop_scenes.sample_scenes(50, np.random.default_rng(7), moving_camera=True)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("kwargs, message", [
    (dict(alpha=1.0), "alpha must be in"), (dict(beta=(0.5, 0.5)), "beta must be 3"),
    (dict(beta=(0.5, 0.4, 0.2)), "summing to 1"), (dict(sigma_cam=0.0), "sigma_cam"),
])
def test_bad_priors_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tabletop_scenes.ScenePrior(**kwargs)


def test_finite_difference_gradients_predict_the_change_of_a_smooth_loss(renderer):
    """The gradient through the renderer (per-coordinate forward differences, chained by autograd) against
    the change of the loss itself along a random direction of all poses and the camera (central difference)."""
    import torch

    from airlib.render.likelihood import log_likelihood
    from airlib.render.tabletop import render
    s = tabletop_scenes.sample_scenes(1, np.random.default_rng(5), moving_camera=True)
    target = renderer.render_batch(*s)
    pose0 = torch.tensor(s.pose, dtype=torch.float64)
    cam0 = torch.tensor(s.camera, dtype=torch.float64)
    present, kind = s.present, s.kind
    pose0[present] += torch.tensor([0.03, -0.03, 0.2], dtype=torch.float64)     # a guess near the truth
    cam0 += 6.0

    def loss(pose, cam):
        y = render(present, kind, pose, cam, renderer, check=False)
        return log_likelihood(target.double(), y, 0.1, 6.0, 2).sum()

    pose = pose0.clone().requires_grad_(True)
    cam = cam0.clone().requires_grad_(True)
    loss(pose, cam).backward()
    assert torch.all(pose.grad[~torch.as_tensor(present)] == 0)                  # absent slots get nothing
    rng = np.random.default_rng(6)
    agree = 0
    for _ in range(4):
        d_pose = torch.tensor(rng.normal(size=pose0.shape) * [0.01, 0.01, 0.05], dtype=torch.float64)
        d_pose[~torch.as_tensor(present)] = 0
        d_cam = torch.tensor(rng.normal(size=1) * 1.5, dtype=torch.float64)
        predicted = (pose.grad * d_pose).sum() + (cam.grad * d_cam).sum()
        with torch.no_grad():
            actual = (loss(pose0 + d_pose, cam0 + d_cam) - loss(pose0 - d_pose, cam0 - d_cam)) / 2
        agree += bool(abs(predicted - actual) <= 0.3 * abs(actual))
    assert agree >= 3


def test_colour_perturbation_changes_one_type_and_is_undone(renderer):
    scene = ([True, True, False], [0, 2, -1], [[-0.15, 0.0, 0.0], [0.15, 0.0, 0.0], [0, 0, 0]])
    before = renderer.render(*scene)
    renderer.set_colours({0: (0.1, 0.9, 0.1)})                     # cups green
    try:
        green = renderer.render(*scene).astype(int)
        cup, plate = (np.abs(green - before.astype(int)).sum(-1) > 30)[:, :64], \
            (np.abs(green - before.astype(int)).sum(-1) > 30)[:, 64:]
        assert cup.sum() > 50 and plate.sum() == 0                 # the cup (left) changed, the plate did not
        with pytest.raises(ValueError, match="three numbers in"):
            renderer.set_colours({1: (2.0, 0.0, 0.0)})
    finally:
        renderer.set_colours(None)
    assert np.array_equal(renderer.render(*scene), before)


def test_size_and_colour_perturbations_scale_silhouettes_and_are_undone():
    with TabletopRenderer(64, scales=(1.0, 0.8, 1.25)) as r:
        base = TabletopRenderer(64)
        try:
            scene = ([True, False, False], [2, -1, -1], [[0.0, 0.0, 0.3], [0, 0, 0], [0, 0, 0]])
            plain = r.render(*scene)
            assert np.array_equal(plain, base.render(*scene))            # scale 0 is the unperturbed mesh
            table = base.render([False] * 3, [-1] * 3, np.zeros((3, 3)))
            area = {j: (np.abs(r.render(*scene, scale=np.array([j, 0, 0])).astype(int) - table).sum(-1) > 40).sum()
                    for j in range(3)}
            # a silhouette's area grows as the square of the size (perspective changes it a little)
            assert 0.8 ** 2 * 0.85 < area[1] / area[0] < 0.8 ** 2 * 1.15
            assert 1.25 ** 2 * 0.85 < area[2] / area[0] < 1.25 ** 2 * 1.15
            s = tabletop_scenes.sample_scenes(4, np.random.default_rng(0))
            colours = np.tile(np.array([[0.1, 0.8, 0.1], [0.8, 0.8, 0.1], [0.3, 0.3, 0.9]]), (4, 1, 1))
            x = r.render_batch(*s, colours=colours)
            assert not torch.equal(x, base.render_batch(*s)) or not s.present.any()
            assert torch.equal(r.render_batch(*s), base.render_batch(*s))  # colours restored afterwards
            with pytest.raises(ValueError, match="one index into"):
                r.render(*scene, scale=np.array([3, 0, 0]))
            with pytest.raises(ValueError, match="scales must be sizes"):
                TabletopRenderer(64, scales=(1.0, 5.0))
        finally:
            base.close()


def test_scenes_take_a_subset_of_every_field():
    s = tabletop_scenes.sample_scenes(5, np.random.default_rng(3), moving_camera=True)
    t = s.take(np.array([4, 1]))
    for field in tabletop_scenes.Scenes._fields:
        assert np.array_equal(getattr(t, field), getattr(s, field)[[4, 1]])
    assert len(s.take(s.count == 0).present) == int((s.count == 0).sum())
    assert isinstance(s.take(slice(2)), tabletop_scenes.Scenes)


def test_log_prior_of_hand_made_scenes():
    spec, prior = TableSpec(), tabletop_scenes.ScenePrior()
    p = spec.placement_half_width
    obj = math.log(1 / 3) - math.log((2 * p) ** 2) - math.log(2 * math.pi)      # one object's type and pose
    present = np.array([[False, False, False], [False, True, False], [True, False, True], [True, True, False]])
    kind = np.where(present, np.array([[0, 0, 0], [0, 0, 0], [1, 0, 2], [2, 2, 0]]), -1)
    pose = np.zeros((4, 3, 3), np.float32)
    pose[2, 0, :2], pose[2, 2, :2] = (-p, -p), (p, p)                            # far apart: no overlap
    scenes = tabletop_scenes.Scenes(present, kind, pose, np.zeros(4, np.float32))      # scene 3: two plates at one place
    got = tabletop_scenes.log_prior(scenes, prior, spec)
    reach = 2 * crockery.BODY_RADIUS["plate"] - 1e-6           # overlap_log_prior floors distances at 1e-6 m
    want = [3 * math.log(0.5), math.log(3 / 8) + obj, math.log(3 / 8) + 2 * obj,
            math.log(3 / 8) + 2 * obj - prior.overlap_nats * reach]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_count_probs_are_binomial_and_the_pose_density_uniform():
    probs = tabletop_scenes.count_probs(tabletop_scenes.ScenePrior(alpha=0.3))
    np.testing.assert_allclose(probs, [0.7 ** 3, 3 * 0.3 * 0.7 ** 2, 3 * 0.3 ** 2 * 0.7, 0.3 ** 3])
    p = TableSpec().placement_half_width
    assert math.exp(tabletop_scenes.log_pose_density(TableSpec())) == pytest.approx(1 / ((2 * p) ** 2 * 2 * math.pi))
