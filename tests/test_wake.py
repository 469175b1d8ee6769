"""The wake phase of reweighted wake-sleep (airlib.tabletop_air.wake_loss) against a second computation of its
weights from the scene model's own log prior, the renderer and the likelihood, and the wake experiments' batches."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from airlib import experiments, tabletop_scenes
from airlib.experiments import tabletop as T
from airlib.render.likelihood import pyramid_log_likelihood
from airlib.tabletop_air import Description, TabletopAIR

SIGMA, LEVELS = 0.05, ((16.0, 4),)


def _data(n=3, seed=0, moving=False):
    s = tabletop_scenes.sample_scenes(n, np.random.default_rng(seed), moving_camera=moving, spec=T.SPEC)
    return T.renderer(64).render_batch(*s)


@pytest.mark.parametrize("moving, floor", [(False, 0.0), (True, 0.0), (False, 0.3)])
def test_the_wake_loss_weights_each_draw_by_p_x_z_over_the_proposal_computed_by_hand(moving, floor):
    torch.manual_seed(0)
    net = TabletopAIR(hidden=32, moving_camera=moving).eval()
    x, r, K = _data(moving=moving), T.renderer(64), 3
    loss, info = net.wake_loss(x, r, SIGMA, LEVELS, K, torch.Generator().manual_seed(4), floor=floor)
    # the same draws again, each weighed here: log p(x | z) + log p(z) - log q'(z | x), q' = q floored
    with torch.no_grad():
        z = net(x.repeat(K, 1, 1, 1), sample=True, generator=torch.Generator().manual_seed(4), floor=floor)
    present = z.present.numpy() > 0
    kind = np.where(present, z.kind.numpy(), -1)
    scenes = tabletop_scenes.Scenes(present, kind, z.pose.numpy(), z.camera.numpy())
    given = Description(z.present, z.kind * (z.present > 0), z.pose, z.camera)
    log_q = net(x.repeat(K, 1, 1, 1), sample=False, given=given).log_q.detach()                     # (K B,)
    log_proposal = net(x.repeat(K, 1, 1, 1), sample=False, given=given, floor=floor).log_q.detach()
    if floor:
        assert not torch.allclose(log_proposal, log_q)
    sigma = net.prior.sigma_cam
    log_p_cam = (-0.5 * (z.camera.double() / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)
                 if moving else torch.zeros(len(present), dtype=torch.float64))
    log_p = torch.from_numpy(tabletop_scenes.log_prior(scenes, net.prior, net.spec)) + log_p_cam
    log_lik = pyramid_log_likelihood(x.repeat(K, 1, 1, 1), r.render_batch(*scenes), SIGMA, LEVELS)
    log_w = (log_lik.double() + log_p - log_proposal.double()).view(K, -1)              # (K, B)
    w = torch.softmax(log_w, 0)
    assert loss.item() == pytest.approx(-(w * log_q.double().view(K, -1)).sum(0).mean().item(), rel=1e-4, abs=1e-3)
    assert info["log_w"] == pytest.approx((torch.logsumexp(log_w, 0) - math.log(K)).mean().item(), rel=1e-4)
    assert info["ess"] == pytest.approx((1 / (w ** 2).sum(0)).mean().item(), rel=1e-4)
    assert 1.0 <= info["ess"] <= K


def test_with_one_draw_the_wake_loss_is_minus_log_q_of_that_draw_and_its_gradient_holds_the_draw_fixed():
    torch.manual_seed(1)
    net = TabletopAIR(hidden=32).eval()
    x = _data(seed=1)
    loss, info = net.wake_loss(x, T.renderer(64), SIGMA, LEVELS, 1, torch.Generator().manual_seed(2))
    assert info["ess"] == pytest.approx(1.0)
    z = net(x, sample=True, generator=torch.Generator().manual_seed(2))
    fixed = Description(z.present.detach(), z.kind * (z.present > 0), z.pose.detach(), z.camera.detach())
    by_hand = -net(x, sample=False, given=fixed).log_q.mean()
    assert loss.item() == pytest.approx(by_hand.item(), abs=1e-5)
    grads = torch.autograd.grad(loss, list(net.heads.parameters()))
    want = torch.autograd.grad(by_hand, list(net.heads.parameters()))
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads, want))


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_the_number_of_draws_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="particles must be a positive int"):
        TabletopAIR(hidden=32).wake_loss(_data(), T.renderer(64), SIGMA, LEVELS, bad)


def test_the_wake_batches_hold_perturbed_data_and_the_sleep_scenes_come_from_the_model():
    both, wake = experiments.get("tabletop-air-wake-sleep-perturbed"), experiments.get("tabletop-air-wake-perturbed")
    cfg = experiments.config("tabletop-air-wake-sleep-perturbed", "smoke")[1]
    scenes, images, data = both.batch({}, cfg, 0, 0)
    assert data.shape == (cfg.wake_batch, 3, cfg.render_size, cfg.render_size)
    assert torch.equal(images, T.renderer(cfg.render_size).render_batch(*scenes))      # the model's own renders
    again = both.batch({}, cfg, 0, 0)[2]
    assert torch.equal(data, again)                                                   # the stream is (seed, step)
    rng = np.random.default_rng([0, 0])
    truth = both._scenes(cfg.wake_batch, rng)
    assert not torch.equal(data, T.renderer(cfg.render_size).render_batch(*truth))     # perturbed, not the model's
    assert wake.batch({}, cfg, 0, 0)[:2] == (None, None)                              # wake alone: no model scenes
    assert torch.equal(wake.batch({}, cfg, 0, 0)[2], data)


def test_a_wake_phase_for_presence_and_type_only_leaves_the_pose_heads_to_the_sleep_phase():
    torch.manual_seed(3)
    net = TabletopAIR(hidden=32).eval()
    x, r = _data(seed=3), T.renderer(64)
    pose_rows = slice(1 + len(T.KINDS), None)                 # heads: presence, type logits, then the pose's outputs
    grads = {}
    for discrete in (False, True):
        loss, _ = net.wake_loss(x, r, SIGMA, LEVELS, 2, torch.Generator().manual_seed(5), discrete_only=discrete)
        grads[discrete] = torch.autograd.grad(loss, net.heads.weight)[0]
    assert grads[False][pose_rows].abs().sum() > 0 and grads[True][pose_rows].abs().sum() == 0
    assert grads[True][:pose_rows.start].abs().sum() > 0        # presence and type still learn
    # the same draws and weights: on presence and type the two losses agree (the full one adds log q(z_where))
    assert torch.allclose(grads[False][:pose_rows.start], grads[True][:pose_rows.start], atol=1e-6)


def test_the_wake_levers_change_one_thing_each():
    base = T.EXPERIMENTS["tabletop-air-wake-sleep-perturbed"].configs["paper"][1]
    for name, field, value in (("tabletop-air-wake-sleep-perturbed-k16", "particles", 16),
                               ("tabletop-air-wake-sleep-perturbed-discrete", "wake_discrete", True),
                               ("tabletop-air-wake-sleep-perturbed-finetune", "start_from", f"{T.SLEEP_START}:0")):
        cfg = T.EXPERIMENTS[name].configs["paper"][1]
        assert getattr(cfg, field) == value and dataclasses.replace(cfg, **{field: getattr(base, field)}) == base
    ref = T.EXPERIMENTS["tabletop-air-sleep-perturbed"]
    assert ref.method == "sleep" and ref.perturbed and ref.configs["paper"] == T.EXPERIMENTS["tabletop-air-sleep-type"].configs["paper"]
