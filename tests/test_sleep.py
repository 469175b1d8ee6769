"""The sleep phase of the table-top network (airlib.tabletop_air.sleep_loss): q scored at known descriptions, the
set likelihood over the orders of exchangeable objects against a hand computation, and the scenes it learns from."""
import math

import numpy as np
import pytest
import torch

from airlib import experiments, tabletop_scenes
from airlib.experiments import tabletop as T
from airlib.tabletop_air import Description, TabletopAIR, descriptions


def _scenes(present, kind, pose, camera=None):
    present = np.array(present, bool)
    return tabletop_scenes.Scenes(present, np.array(kind), np.array(pose, np.float32),
                                  np.zeros(len(present), np.float32) if camera is None else np.array(camera, np.float32))


SCENES = _scenes([[1, 0, 1], [1, 1, 1], [0, 0, 0], [0, 1, 0]],
                 [[2, -1, 0], [1, 1, 0], [-1, -1, -1], [-1, 2, -1]],
                 [[[0.1, 0.2, 3.0], [0, 0, 0], [-0.2, 0.0, -1.0]],
                  [[0.0, 0.0, 0.5], [0.25, -0.1, 2.0], [-0.2, 0.2, -3.1]],
                  np.zeros((3, 3)), [[0, 0, 0], [0.1, -0.25, 1.0], [0, 0, 0]]], [10.0, -20.0, 0.0, 35.0])


def _one_order(scenes, b, order):
    """Scene b with its objects in ``order`` (slot indices), first, as a one-scene Description."""
    n = len(order)
    present = torch.zeros(1, 3)
    present[0, :n] = 1
    kind = torch.zeros(1, 3, dtype=torch.int64)
    pose = torch.zeros(1, 3, 3)
    for i, j in enumerate(order):
        kind[0, i], pose[0, i] = int(scenes.kind[b, j]), torch.from_numpy(scenes.pose[b, j])
    return Description(present, kind, pose, torch.tensor([float(scenes.camera[b])]))


def test_descriptions_cover_every_order_with_its_multiplicity_and_the_canonical_one_sorts_by_type():
    d, log_mult = descriptions(SCENES, "set")
    assert d.present.shape == (6 * 4, 3) and log_mult.shape == (6, 4)
    assert torch.allclose(log_mult[0], torch.tensor([math.log(3), 0.0, math.log(6), math.log(6)]))
    kinds = d.kind.view(6, 4, 3)
    assert {tuple(k[0, :2].tolist()) for k in kinds} == {(2, 0), (0, 2)}          # scene 0: both orders ...
    assert sorted(tuple(k[0, :2].tolist()) for k in kinds).count((2, 0)) == 3      # ... three times each
    assert {tuple(k[1].tolist()) for k in kinds} == {(1, 1, 0), (1, 0, 1), (0, 1, 1)}   # 3! orders, two pans alike
    assert torch.equal(d.present.view(6, 4, 3)[:, 3], torch.tensor([[1.0, 0, 0]] * 6))   # objects first
    c, zero = descriptions(SCENES, "type")
    assert c.kind.tolist() == [[0, 2, 0], [0, 1, 1], [0, 0, 0], [2, 0, 0]] and torch.equal(zero, torch.zeros(1, 4))
    assert c.pose[1, 1:, 0].tolist() == pytest.approx([0.0, 0.25])                 # two pans, left to right
    with pytest.raises(ValueError, match="unknown order 'random'"):
        descriptions(SCENES, "random")


@pytest.mark.parametrize("moving", [False, True])
def test_q_scored_at_its_own_mode_gives_the_mode_s_log_q(moving):
    torch.manual_seed(0)
    net = TabletopAIR(hidden=32, moving_camera=moving).eval()
    x = torch.rand(5, 3, 32, 32)
    mode = net(x, sample=False)
    d = Description(mode.present, mode.kind * (mode.present > 0), mode.pose, mode.camera)
    scored = net(x, sample=False, given=d)
    assert torch.allclose(scored.log_q, mode.log_q, atol=1e-5)
    assert torch.equal(scored.present, mode.present)


def test_the_set_loss_is_the_log_sum_exp_over_the_scene_s_orders_by_hand_and_ignores_the_slot_order():
    torch.manual_seed(1)
    net = TabletopAIR(hidden=32, moving_camera=True).eval()
    x = torch.rand(4, 3, 32, 32)
    loss, info = net.sleep_loss(x, SCENES, "set")
    import itertools
    by_hand = []
    for b in range(4):
        objects = np.flatnonzero(SCENES.present[b])
        orders = {tuple(p) for p in itertools.permutations(objects.tolist())}     # the distinct orders
        log_qs = torch.stack([net(x[b:b + 1], sample=False, given=_one_order(SCENES, b, o)).log_q[0] for o in orders])
        by_hand.append(torch.logsumexp(log_qs, 0))
    assert loss.item() == pytest.approx(-torch.stack(by_hand).mean().item(), abs=1e-4)
    assert info["log_q"] == pytest.approx(-loss.item())
    shuffled = tabletop_scenes.Scenes(SCENES.present[:, ::-1].copy(), SCENES.kind[:, ::-1].copy(),
                                      SCENES.pose[:, ::-1].copy(), SCENES.camera)
    assert net.sleep_loss(x, shuffled, "set")[0].item() == pytest.approx(loss.item(), abs=1e-5)
    turned = SCENES._replace(pose=SCENES.pose + np.array([0, 0, 2 * math.pi], np.float32))   # angles on the circle
    assert net.sleep_loss(x, turned, "set")[0].item() == pytest.approx(loss.item(), abs=1e-4)
    # the canonical order is one of the orders: its likelihood is below the set's
    canonical = net.sleep_loss(x, SCENES, "type")[0]
    assert canonical.item() >= loss.item() - 1e-5
    loss.backward()
    assert all(p.grad is not None for p in net.heads.parameters())


def test_the_scenes_it_learns_from_are_draws_from_eq_8():
    exp = experiments.get("tabletop-air-sleep")
    s = exp._scenes(6000, np.random.default_rng(5))
    prior = tabletop_scenes.ScenePrior()
    counts = np.bincount(s.count, minlength=4) / len(s.count)
    binom = [math.comb(3, k) * prior.alpha ** k * (1 - prior.alpha) ** (3 - k) for k in range(4)]
    assert counts == pytest.approx(binom, abs=0.02)                    # 4 standard errors at n = 6000
    types = np.bincount(s.kind[s.present], minlength=3) / s.present.sum()
    assert types == pytest.approx(prior.beta, abs=0.02)
    assert np.all(np.abs(s.pose[s.present][:, :2]) <= T.SPEC.placement_half_width + 1e-6)
    assert np.all(s.camera == 0)                                         # the fixed camera


def test_log_q_of_a_given_description_is_its_log_prior_minus_the_elbo_terms():
    """l = log p(z) - log q(z | x) without the likelihood: the trace's terms against the scene model's own log prior
    (airlib.tabletop_scenes.log_prior) and the camera's Gaussian prior, written out here."""
    torch.manual_seed(2)
    net = TabletopAIR(hidden=32, moving_camera=True).eval()
    d, _ = descriptions(SCENES, "type")
    q = net(torch.rand(4, 3, 32, 32), sample=False, given=d)
    ordered = tabletop_scenes.Scenes(d.present.numpy() > 0, np.where(d.present.numpy() > 0, d.kind.numpy(), -1),
                                     d.pose.numpy(), d.camera.numpy())
    sigma = net.prior.sigma_cam
    log_p = (tabletop_scenes.log_prior(ordered, net.prior, net.spec)
             - 0.5 * (d.camera.double().numpy() / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi))
    assert torch.equal(q.present, d.present)
    want = torch.from_numpy(log_p).float() - (q.step_terms.sum(1) + q.camera_term)
    assert torch.allclose(q.log_q, want, atol=1e-3)


def test_a_difference_network_scores_each_order_on_its_own_partial_reconstructions():
    torch.manual_seed(3)
    net = TabletopAIR(hidden=32, difference=True).eval()
    r = T.renderer(32)
    fixed = SCENES._replace(camera=np.zeros(4, np.float32))
    x = r.render_batch(*fixed)
    loss, _ = net.sleep_loss(x, fixed, "set", renderer=r)
    d, log_mult = descriptions(fixed, "set")
    each = net(x.repeat(6, 1, 1, 1), sample=False, renderer=r, given=d).log_q.view(6, 4)   # (orders, scenes)
    assert loss.item() == pytest.approx(-torch.logsumexp(each - log_mult, 0).mean().item(), abs=1e-4)
    with pytest.raises(ValueError, match="pass renderer="):
        net.sleep_loss(x, fixed, "set")
