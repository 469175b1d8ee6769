"""The pose z_where (airlib.pose), shared by the 3D and the table-top networks: each network's q(z_where | x)
and the uniform prior, compared bit for bit (values and gradients) against the code each network wrote
for itself before, written out here, with which their committed models were trained."""
import math

import pytest
import torch
from torch.nn import functional as F

from airlib import pose, scene3d, tabletop_scenes
from airlib.render.tabletop import TableSpec

torch.set_num_threads(1)
MAX_SCALE = torch.tensor([0.1, 0.1, 0.5])


def _old_scenenet_pose(net, x, identity):
    out = net.where(net.encoder(x))
    p = scene3d.SPEC.placement_half_width
    phi = torch.atan2(out[:, 3], out[:, 2])[:, None]
    r = out[:, 2:4].norm(dim=1, keepdim=True).detach()
    phi = phi.detach() + (phi - phi.detach()) * (r / r.clamp(min=0.25))
    scale = MAX_SCALE * torch.sigmoid(out[:, 4:]) + 1e-3
    if net.symmetric:
        m = scene3d.ORDER.to(out)[identity][:, None]
        phi, scale = phi / m, torch.cat([scale[:, :2], scale[:, 2:] / m], dim=1)
    return torch.cat([p * torch.tanh(out[:, :2]), phi], dim=1), scale


def _old_tabletop_pose(out, p):
    loc = torch.cat([p * torch.tanh(out[:, 4:6]), torch.atan2(out[:, 7], out[:, 6])[:, None]], 1)
    return loc, torch.minimum(F.softplus(out[:, 8:11]) + 1e-3, MAX_SCALE.to(out))


def _values_and_gradients(params, run):
    """loc, scale and the gradient of a fixed random function of them with respect to ``params``."""
    loc, scale = run()
    w = torch.randn(2, *loc.shape, generator=torch.Generator().manual_seed(9))
    grads = torch.autograd.grad((w[0] * loc + w[1] * scale + loc ** 2).sum(), params)
    return (loc.detach(), scale.detach(), *grads)


@pytest.mark.parametrize("radius", [30.0, 0.03], ids=["far", "capped"])
@pytest.mark.parametrize("symmetric", [False, True])
def test_the_3d_network_reads_its_pose_as_before(symmetric, radius):
    """(cos, sin) far from the origin, and near it, where the angle's gradient is capped."""
    torch.manual_seed(0)
    net = scene3d.SceneNet(hidden=32, symmetric=symmetric)
    with torch.no_grad():                    # angles all round the circle
        net.where.weight[2:4] *= radius
        net.where.bias[2:4] = 0.0
    x = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    identity = torch.arange(64) % 3
    params = list(net.where.parameters())
    new = _values_and_gradients(params, lambda: net.pose(x, identity))
    old = _values_and_gradients(params, lambda: _old_scenenet_pose(net, x, identity))
    for a, b in zip(new, old):
        assert torch.equal(a, b)
    r = net.where(net.encoder(x))[:, 2:4].norm(dim=1)
    assert (r < 0.25).all() if radius < 1 else (r > 0.25).all()


def test_the_tabletop_network_reads_its_pose_as_before():
    out = (torch.randn(256, 11, generator=torch.Generator().manual_seed(2)) * 3).requires_grad_()
    p = TableSpec().placement_half_width
    new = _values_and_gradients([out], lambda: pose.pose_gaussian(out[:, 4:11], p, "clamp"))
    old = _values_and_gradients([out], lambda: _old_tabletop_pose(out, p))
    for a, b in zip(new, old):
        assert torch.equal(a, b)
    assert (new[1] == MAX_SCALE).any() and (new[1] < MAX_SCALE).any()     # both sides of the clamp


def test_the_scales_stay_in_their_bounds():
    out = torch.randn(512, 7, generator=torch.Generator().manual_seed(3)) * 20
    for bound in ("sigmoid", "clamp"):
        _, scale = pose.pose_gaussian(out, 0.3, bound)
        assert (scale >= pose.MIN_SCALE).all() and (scale <= pose.MAX_SCALE + pose.MIN_SCALE).all()
    with pytest.raises(ValueError, match="bound"):
        pose.pose_gaussian(out, 0.3, "softplus")


@pytest.mark.parametrize("spec", [scene3d.SPEC, TableSpec()], ids=["3d", "tabletop"])
def test_the_uniform_prior_is_the_one_both_networks_used(spec):
    p = spec.placement_half_width
    assert pose.log_uniform_pose(p) == -math.log((2 * p) ** 2) - math.log(2 * math.pi)
    assert tabletop_scenes.log_pose_density(TableSpec(placement_half_width=p)) == pose.log_uniform_pose(p)
    for dtype in (torch.float32, torch.float64):
        got = scene3d.log_prior(torch.arange(3), torch.zeros(3, 3, dtype=dtype))
        p3 = scene3d.SPEC.placement_half_width
        want = -math.log(3) - 2 * math.log(2 * p3) - math.log(2 * math.pi)
        assert torch.equal(got, torch.full((3,), want, dtype=dtype))
