"""AIR for table-top scenes (airlib.tabletop_air): the ELBO's terms against a closed-form computation on a
network whose outputs are set by hand, Eq. (8)'s count prior, and gradients reaching every part."""
import math
import re

import numpy as np
import pytest
import torch

from airlib import estimators as est
from airlib import tabletop_scenes
from airlib.render.crockery import BODY_RADIUS
from airlib.render.likelihood import downsample
from airlib.render.tabletop import KINDS, TableSpec, TabletopRenderer
from airlib.pose import MIN_SCALE
from airlib.tabletop_air import TabletopAIR


@pytest.fixture(scope="module")
def renderer():
    with TabletopRenderer(128) as r:
        yield r


@pytest.mark.parametrize("alpha", [0.3, 0.5, 0.8])
def test_the_count_prior_is_the_binomial_eq_8_implies(alpha):
    model = TabletopAIR(16, prior=tabletop_scenes.ScenePrior(alpha=alpha))
    for n in range(tabletop_scenes.N + 1):
        z = est.unary(torch.tensor([n]), tabletop_scenes.N)
        log_p = est.presence_log_prob(z, probs=model.rho.expand_as(z)).sum()
        binomial = math.comb(tabletop_scenes.N, n) * alpha ** n * (1 - alpha) ** (tabletop_scenes.N - n)
        assert log_p.item() == pytest.approx(math.log(binomial), abs=1e-5)


def _constant_model(pres_bias: float, what_bias, where_bias, moving_camera=False) -> TabletopAIR:
    """A network whose heads ignore their input: q is known in closed form."""
    torch.manual_seed(0)
    model = TabletopAIR(32, moving_camera=moving_camera)
    with torch.no_grad():
        model.heads.weight.zero_()
        model.heads.bias.copy_(torch.tensor([pres_bias, *what_bias, *where_bias]))
    return model


def test_the_elbo_terms_match_a_closed_form(renderer):
    what, where = [0.3, -0.2, 0.5], [0.4, -0.3, 0.8, 0.6, -1.0, -2.0, 0.5]
    model = _constant_model(0.7, what, where)
    s = tabletop_scenes.sample_scenes(64, np.random.default_rng(0))
    images = renderer.render_batch(*s[:3])
    q = model(images, generator=torch.Generator().manual_seed(3))
    spec, p = TableSpec(), TableSpec().placement_half_width
    q1 = 1 / (1 + math.exp(-0.7))
    log_soft = torch.log_softmax(torch.tensor(what), 0)
    loc = torch.tensor([p * math.tanh(0.4), p * math.tanh(-0.3), math.atan2(0.6, 0.8)])
    scale = torch.nn.functional.softplus(torch.tensor([-1.0, -2.0, 0.5])) + MIN_SCALE
    scale = torch.minimum(scale, torch.tensor([0.1, 0.1, 0.5]))
    alpha = model.prior.alpha
    area = (2 * p) ** 2
    counts = q.present.sum(1).long()
    assert set(counts.tolist()) == {0, 1, 2, 3}
    checked = 0
    for b in range(64):
        n = int(counts[b])
        assert q.present[b].tolist() == [1.0] * n + [0.0] * (tabletop_scenes.N - n)       # the unary code
        want = math.log(math.comb(3, n) * alpha ** n * (1 - alpha) ** (3 - n))       # log p(n)
        want -= n * math.log(q1) + (math.log(1 - q1) if n < 3 else 0.0)               # - log q(n | x)
        for i in range(n):
            k = int(q.kind[b, i])
            z = q.pose[b, i]
            raw = z.clone()
            if abs(z[0]) < p and abs(z[1]) < p:          # (a clamped sample's density is that of its raw value)
                log_q_where = (-0.5 * ((raw - loc) / scale) ** 2 - torch.log(scale) - 0.5 * math.log(2 * math.pi)).sum()
                want += math.log(1 / 3) - log_soft[k].item() - math.log(area) - math.log(2 * math.pi) - log_q_where.item()
                for j in range(i):                       # interpenetration of earlier objects, nats per metre
                    d = math.hypot(*(z[:2] - q.pose[b, j, :2]).detach().tolist())
                    reach = BODY_RADIUS[KINDS[k]] + BODY_RADIUS[KINDS[int(q.kind[b, j])]]
                    want -= model.prior.overlap_nats * max(0.0, reach - d)
            else:
                want = None
                break
        if want is not None:
            assert q.step_terms[b].sum().item() == pytest.approx(want, abs=1e-3)
            checked += 1
        assert q.log_q_discrete[b].sum().item() == pytest.approx(
            n * math.log(q1) + (math.log(1 - q1) if n < 3 else 0.0)
            + sum(log_soft[int(q.kind[b, i])].item() for i in range(n)), abs=1e-4)
    assert checked >= 40
    assert torch.all(q.pose[..., :2].abs() <= p) and torch.all(q.camera == 0)


def test_deterministic_inference_reads_the_modes(renderer):
    model = _constant_model(2.0, [0.1, 0.9, 0.2], [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    images = renderer.render_batch(*tabletop_scenes.sample_scenes(3, np.random.default_rng(1))[:3])
    q = model(images, sample=False)
    assert torch.all(q.present == 1) and torch.all(q.kind == 1)
    assert torch.allclose(q.pose, torch.zeros_like(q.pose), atol=1e-6)
    off = _constant_model(-2.0, [0.1, 0.9, 0.2], [0.0] * 7)(images, sample=False)
    assert torch.all(off.present == 0) and torch.all(off.step_terms[:, 1:] == 0)


def test_every_part_of_the_network_learns(renderer):
    torch.manual_seed(0)
    model = TabletopAIR(32, moving_camera=True)
    with torch.no_grad():
        model.heads.bias[0] = 3.0                          # objects present, so that poses get gradients
    s = tabletop_scenes.sample_scenes(6, np.random.default_rng(2), moving_camera=True)
    images = renderer.render_batch(*s)
    surrogate, q = model.loss(images, renderer, sigma_x=0.1, levels=((4.0, 2), (1.0, 1)),
                              generator=torch.Generator().manual_seed(0))
    surrogate.loss.backward()
    assert q.present.sum() > 0 and torch.all(q.camera.abs() <= 40)
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, f"{name} gets no gradient"
    assert surrogate.elbo.shape == (6,) and torch.isfinite(surrogate.elbo).all()

    # the warm-up: q(z_what) is sampled as before but its head learns nothing from the score function
    # (the head's type rows get only the ELBO's path through nothing: zero), and every other part still learns
    model.zero_grad()
    warm, q_warm = model.loss(images, renderer, sigma_x=0.1, levels=((4.0, 2), (1.0, 1)),
                              generator=torch.Generator().manual_seed(0), learn_what=False)
    warm.loss.backward()
    assert torch.equal(q_warm.kind, q.kind) and torch.allclose(warm.elbo, surrogate.elbo)
    assert torch.all(model.heads.weight.grad[1:4] == 0) and torch.all(model.heads.bias.grad[1:4] == 0)
    assert model.heads.weight.grad[0].abs().sum() > 0 and model.heads.weight.grad[4:].abs().sum() > 0


@pytest.mark.parametrize("images, error, message", [
    (torch.zeros(2, 1, 128, 128), ValueError, "(B, 3, H, H) with H a multiple of 32"),
    (torch.zeros(3, 128, 128), ValueError, "(B, 3, H, H) with H a multiple of 32"),
    (torch.zeros(2, 3, 100, 100), ValueError, "(B, 3, H, H) with H a multiple of 32"),
    (torch.zeros(2, 3, 128, 64), ValueError, "(B, 3, H, H)"),
    (torch.full((2, 3, 128, 128), 2.0), ValueError, "intensities in [0, 1]"),
    (torch.full((2, 3, 128, 128), float("nan")), ValueError, "must be finite"),
    (torch.zeros(2, 3, 128, 128, dtype=torch.int64), TypeError, "floats in [0, 1] or uint8"),
])
def test_bad_images_are_named(images, error, message):
    """The network takes images through chapter 5's check (airlib.render.likelihood.check_images)."""
    with pytest.raises(error, match=re.escape(message)):
        TabletopAIR(16)(images)


def test_uint8_images_read_as_their_float_intensities(renderer):
    model = TabletopAIR(16).eval()
    images = renderer.render_batch(*tabletop_scenes.sample_scenes(2, np.random.default_rng(4))[:3])
    as_bytes = (images * 255).round().to(torch.uint8)
    a, b = model(as_bytes, sample=False), model(as_bytes.float() / 255, sample=False)
    assert torch.equal(a.present, b.present) and torch.allclose(a.pose, b.pose)


def test_a_presence_floor_keeps_every_step_tried_and_is_scored_as_sampled(renderer):
    # a network that never wants an object: with floor f, q(z_pres^i = 1) = f exactly
    model = _constant_model(-30.0, [0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, -1.0, -1.0, 0.0])
    s = tabletop_scenes.sample_scenes(400, np.random.default_rng(1))
    images = renderer.render_batch(*s)
    with torch.no_grad():
        q = model(images, generator=torch.Generator().manual_seed(0), floor=0.25)
        q0 = model(images, generator=torch.Generator().manual_seed(0))
    n = q.present.sum(1)
    assert abs((n >= 1).float().mean().item() - 0.25) < 0.06 and abs((n >= 2).float().mean().item() - 0.0625) < 0.03
    assert torch.all(q0.present == 0)
    log_q_pres = q.log_q_discrete - (q.present * math.log(1 / 3))     # uniform what: log 1/3 per object
    want = n * math.log(0.25) + torch.where(n < 3, math.log(0.75), 0.0)
    assert torch.allclose(log_q_pres.sum(1), want, atol=1e-4)
    with torch.no_grad():
        assert torch.equal(model(images, sample=False, floor=0.25).present, model(images, sample=False).present)
    with pytest.raises(ValueError, match="floor must be in"):
        model(images, floor=0.5)


def test_a_difference_network_reads_the_error_canvas_of_what_it_has_described(renderer):
    """DAIR: step i's encoder reads render(z^{1:i-1}) - x (both at 32x32), checked against the renderer called
    directly on the inferred prefix; a scene whose earlier step was absent keeps its canvas."""
    torch.manual_seed(0)
    model = TabletopAIR(32, difference=True).eval()
    with torch.no_grad():                                     # the pose head ignores the image: known places
        model.heads.weight[:1].zero_()                        # q(z_pres^i) = 1/2: counts of 0 to 3 when sampled
        model.heads.bias[0] = 0.0
        model.heads.weight[4:].zero_()
        model.heads.bias[4:].copy_(torch.tensor([0.3, -0.5, 1.0, 0.0, 0.0, 0.0, 0.0]))
    s = tabletop_scenes.sample_scenes(8, np.random.default_rng(7))
    images = renderer.render_batch(*s)
    seen = []
    hook = model.encoder.register_forward_hook(lambda m, inp, out: seen.append(inp[0].clone()))
    with torch.no_grad():
        q = model(images, generator=torch.Generator().manual_seed(1), renderer=renderer)
    hook.remove()
    assert len(seen) == tabletop_scenes.N
    x = downsample(images, 32)
    for i in range(tabletop_scenes.N):
        present = torch.zeros(8, tabletop_scenes.N, dtype=torch.bool)
        present[:, :i] = q.present[:, :i] > 0
        kind = torch.where(present, torch.cat([q.kind[:, :i], q.kind.new_full((8, tabletop_scenes.N - i), -1)], 1), -1)
        want = downsample(renderer.render_batch(present, kind, q.pose, check=False), 32) - x
        assert torch.allclose(seen[i], want, atol=1e-6), f"step {i + 1}'s canvas"
    n = q.present.sum(1)
    assert n.min() < 2 <= n.max(), n                         # some scenes stop early and keep their canvas
    with pytest.raises(ValueError, match="pass renderer="):
        model(images, sample=False)
    plain = TabletopAIR(32)
    seen.clear()
    hook = plain.encoder.register_forward_hook(lambda m, inp, out: seen.append(inp[0].clone()))
    with torch.no_grad():
        plain(images, sample=False, renderer=renderer)
    hook.remove()
    assert len(seen) == 1 and torch.equal(seen[0], x)        # a plain network reads x once, renderer or not


def test_pose_levels_change_only_the_pathwise_gradient(renderer):
    """``pose_levels``: the poses follow another likelihood's gradient; the score function's signal, the
    reported ELBO, and so the presence and type rows of the heads, are those of ``levels``."""
    s = tabletop_scenes.sample_scenes(6, np.random.default_rng(3))
    images = renderer.render_batch(*s)
    levels, sharp = ((16.0, 4),), ((16.0, 4), (4.0, 2))

    def grads(pose_levels):
        torch.manual_seed(0)
        model = TabletopAIR(32)
        with torch.no_grad():
            model.heads.bias[0] = 3.0                       # objects present, so that poses get gradients
        out, q = model.loss(images, renderer, 0.05, levels, generator=torch.Generator().manual_seed(0),
                            pose_levels=pose_levels)
        out.loss.backward()
        return out, model.heads.weight.grad.clone()

    plain, g = grads(None)
    same, g_same = grads(levels)
    split, g_split = grads(sharp)
    assert torch.equal(g_same, g) and torch.equal(same.elbo, plain.elbo)
    assert torch.equal(split.elbo, plain.elbo) and torch.equal(split.signal, plain.signal)
    assert torch.allclose(g_split[:4], g[:4], atol=1e-6)                # presence and type rows
    assert not torch.allclose(g_split[4:7], g[4:7], atol=1e-3)          # the position rows


def test_a_moving_camera_difference_network_draws_its_canvases_from_the_inferred_camera(renderer):
    torch.manual_seed(1)
    model = TabletopAIR(32, moving_camera=True, difference=True).eval()
    with torch.no_grad():
        model.camera_net[-1].bias.copy_(torch.tensor([0.8, 0.0]))     # a camera well away from the centre
    s = tabletop_scenes.sample_scenes(4, np.random.default_rng(8), moving_camera=True)
    images = renderer.render_batch(*s)
    seen = []
    hook = model.encoder.register_forward_hook(lambda m, inp, out: seen.append(inp[0].clone()))
    with torch.no_grad():
        q = model(images, sample=False, renderer=renderer)
    hook.remove()
    assert q.camera.abs().min() > 5
    empty = renderer.render_batch(np.zeros((4, tabletop_scenes.N), bool), np.full((4, tabletop_scenes.N), -1),
                                  np.zeros((4, tabletop_scenes.N, 3)), q.camera, check=False)
    assert torch.allclose(seen[0], downsample(empty, 32) - downsample(images, 32), atol=1e-6)
