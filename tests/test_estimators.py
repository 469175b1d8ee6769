"""Tests of airlib.estimators against hand-derived gradients and the exact toy model (airlib.toy)."""
import math

import numpy as np
import pytest
import torch

from airlib import estimators as est
from airlib import toy

torch.set_num_threads(1)
D = torch.float64
TOL = 1e-5  # hand-derived gradients, float64


def _rng(seed=0):
    return torch.Generator().manual_seed(seed)


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


# ------------------------------------------------------------------------------------------------
# The unary code


def test_unary_code_stops_at_first_zero_and_masks():
    z = est.sample_presence(probs=torch.full((2000, 4), 0.7, dtype=D), generator=_rng())
    n = est.count(z)
    assert torch.equal(z, est.unary(n.long(), 4).to(D))  # ones then zeros, nothing after a zero
    assert torch.equal(est.object_mask(z), z)
    expected_steps = torch.clamp(n + 1, max=4)
    assert torch.equal(est.step_mask(z).sum(1), expected_steps)
    # counts follow the truncated geometric law of the unary code
    freq = torch.bincount(n.long(), minlength=5).to(D) / 2000
    law = torch.tensor([0.3, 0.7 * 0.3, 0.7 ** 2 * 0.3, 0.7 ** 3 * 0.3, 0.7 ** 4], dtype=D)
    assert torch.all((freq - law).abs() < 4 * torch.sqrt(law * (1 - law) / 2000))


def test_presence_log_prob_is_log_q_n_of_eq2():
    logits = torch.randn(1, 3, dtype=D, generator=_rng(1))
    p = torch.sigmoid(logits)[0].numpy()
    for n in range(4):
        z = est.unary(torch.tensor([n]), 3).to(D)
        log_q = est.presence_log_prob(z, logits=logits).sum().item()
        hand = sum(math.log(p[i]) for i in range(n)) + (math.log(1 - p[n]) if n < 3 else 0.0)
        assert abs(log_q - hand) < 1e-12
        assert abs(est.presence_log_prob(z, probs=torch.sigmoid(logits)).sum().item() - hand) < 1e-12


def test_presence_prior_probs_reproduce_prior_n():
    prior = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=D)
    rho = est.presence_prior_probs(prior)
    for n in range(4):
        z = est.unary(torch.tensor([n]), 3).to(D)
        assert abs(est.presence_log_prob(z, probs=rho[None]).sum().exp().item() - prior[n].item()) < 1e-12


# ------------------------------------------------------------------------------------------------
# Hand-derived gradients on a seeded sample


def _per_step_problem(B=6, N=3, seed=0):
    g = _rng(seed)
    theta = torch.randn(B, N, dtype=D, generator=g).requires_grad_()
    z = est.sample_presence(logits=theta, generator=g)
    log_lik = torch.randn(B, dtype=D, generator=g)
    other = torch.randn(B, N, dtype=D, generator=g)  # e.g. continuous-latent terms, no gradient here
    return theta, z, log_lik, other


def test_score_function_gradient_matches_hand_derivation():
    theta, z, _, signal = _per_step_problem()
    mask = est.step_mask(z)
    loss = est.score_function_surrogate(est.presence_log_prob(z, logits=theta), signal, mask)
    loss.backward()
    # d log Bernoulli(z; sigmoid(theta)) / d theta = z - sigmoid(theta)
    t, zz, m, s = theta.detach().numpy(), z.numpy(), mask.numpy(), signal.numpy()
    hand = -(m * (zz - _sigmoid(t)) * s) / t.shape[0]
    np.testing.assert_allclose(theta.grad.numpy(), hand, atol=TOL, rtol=0)


def test_learning_signal_local_and_global_by_hand():
    _, z, log_lik, terms = _per_step_problem()
    mask = est.step_mask(z)
    local = est.learning_signal(log_lik, terms, mask, local=True).numpy()
    plain = est.learning_signal(log_lik, terms, mask, local=False).numpy()
    t, m, ll = terms.numpy() * mask.numpy(), mask.numpy(), log_lik.numpy()
    for b in range(t.shape[0]):
        for i in range(t.shape[1]):
            assert abs(local[b, i] - m[b, i] * (ll[b] + t[b, i:].sum())) < 1e-12
            assert abs(plain[b, i] - m[b, i] * (ll[b] + t[b].sum())) < 1e-12


def test_elbo_surrogate_with_baseline_and_normaliser_by_hand():
    theta, z, log_lik, other = _per_step_problem()
    B, N = theta.shape
    mask = est.step_mask(z)
    prior = torch.full((B, N), 0.4, dtype=D)
    log_q = est.presence_log_prob(z, logits=theta)
    step_terms = est.presence_log_prob(z, probs=prior) - log_q + other * est.object_mask(z)
    baseline = torch.randn(B, N, dtype=D, generator=_rng(5)).requires_grad_()
    norm = est.SignalNormaliser(N)
    norm.mean.copy_(torch.tensor([0.5, -1.0, 2.0]))
    norm.var.copy_(torch.tensor([4.0, 0.25, 9.0]))
    norm.initialised.fill_(True)
    norm.eval()
    s = est.elbo_surrogate(log_lik, step_terms, log_q, mask, baseline=baseline, normaliser=norm)
    s.loss.backward()

    t, zz, m, b = theta.detach().numpy(), z.numpy(), mask.numpy(), baseline.detach().numpy()
    st = step_terms.detach().numpy() * m
    signal = np.array([[log_lik[j].item() + st[j, i:].sum() for i in range(N)] for j in range(B)]) * m
    c, v = np.array([0.5, -1.0, 2.0]), np.array([4.0, 0.25, 9.0])
    credited = (signal - b - c) / np.maximum(1.0, np.sqrt(v)) * m
    score = zz - _sigmoid(t)
    # -mean(elbo) differentiates the -log q(z_pres) inside step_terms: +score; Eq. (7): -score*A
    hand_theta = (m * score - m * score * credited) / B
    hand_baseline = 2 * m * (b - signal) / B
    np.testing.assert_allclose(theta.grad.numpy(), hand_theta, atol=TOL, rtol=0)
    np.testing.assert_allclose(baseline.grad.numpy(), hand_baseline, atol=TOL, rtol=0)
    np.testing.assert_allclose(s.signal.numpy(), signal, atol=1e-12)


def test_normaliser_running_statistics_by_hand():
    norm = est.SignalNormaliser(2, momentum=0.5)
    a = torch.tensor([[1.0, 2.0], [3.0, 8.0]], dtype=D)
    out1 = norm(a, torch.ones_like(a))
    np.testing.assert_allclose(out1.numpy(), a.numpy())  # read before update: c = 0, v = 1
    np.testing.assert_allclose(norm.mean.numpy(), [2.0, 5.0])  # first batch initialises
    np.testing.assert_allclose(norm.var.numpy(), [1.0, 9.0])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]], dtype=D)
    out2 = norm(a, mask)
    np.testing.assert_allclose(out2.numpy(), [[-1.0, -1.0], [1.0, 0.0]])
    np.testing.assert_allclose(norm.mean.numpy(), [2.0, 3.5])  # step 2 saw only the value 2
    np.testing.assert_allclose(norm.var.numpy(), [1.0, 4.5])


def test_normal_densities_match_torch_distributions():
    g = _rng(20)
    z, loc_q, loc_p = (torch.randn(4, 3, dtype=D, generator=g) for _ in range(3))
    scale_q, scale_p = (torch.rand(4, 3, dtype=D, generator=g) + 0.1 for _ in range(2))
    Normal, kl = torch.distributions.Normal, torch.distributions.kl_divergence
    scalar = lambda v: torch.tensor(v, dtype=D)
    close = lambda a, b: torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    close(est.normal_log_prob(z, loc_q, scale_q), Normal(loc_q, scale_q).log_prob(z))
    close(est.normal_log_prob(z, 0.5, 0.3), Normal(scalar(0.5), scalar(0.3)).log_prob(z))   # float arguments
    close(est.normal_kl(loc_q, scale_q, loc_p, scale_p), kl(Normal(loc_q, scale_q), Normal(loc_p, scale_p)))
    close(est.normal_kl(loc_q, scale_q, 0.0, 1.0), kl(Normal(loc_q, scale_q), Normal(scalar(0.0), scalar(1.0))))
    assert torch.all(est.normal_kl(loc_q, scale_q, loc_q, scale_q).abs() < 1e-12)


def test_presence_log_prob_with_a_float_prior_is_the_truncated_geometric():
    rho, N = 1e-7, 3
    for n in range(N + 1):
        z = est.unary(torch.tensor([n]), N).to(D)
        log_p = est.presence_log_prob(z, probs=rho)
        hand = n * math.log(rho) + (math.log1p(-rho) if n < N else 0.0)
        assert abs(log_p.sum().item() - hand) < 1e-9
        assert torch.all(log_p[est.step_mask(z) == 0] == 0)
        by_tensor = est.presence_log_prob(z, probs=torch.full((1, N), rho, dtype=D)).sum().item()
        assert abs(by_tensor - hand) < 1e-6 * abs(hand) + 1e-9     # the logit round trip agrees
    with pytest.raises(ValueError, match="open interval"):
        est.presence_log_prob(z, probs=1.0)
    with pytest.raises(ValueError, match="exactly one"):
        est.presence_log_prob(z, probs=0.5, logits=torch.zeros(1, N))


def test_baseline_mlp_takes_any_leading_shape_and_activation():
    torch.manual_seed(0)
    net = est.BaselineMLP(5, hidden=7, activation=torch.nn.ReLU)
    assert isinstance(net.net[1], torch.nn.ReLU) and isinstance(est.BaselineMLP(5).net[1], torch.nn.Tanh)
    f = torch.randn(4, 3, 5)
    out = net(f)
    assert out.shape == (4, 3)
    torch.testing.assert_close(net(f[:, 1]), out[:, 1])
    hand = torch.relu(f @ net.net[0].weight.T + net.net[0].bias) @ net.net[2].weight.T + net.net[2].bias
    torch.testing.assert_close(out, hand.squeeze(-1))


def test_pathwise_gradient_eq6_by_hand():
    g = _rng(2)
    loc = torch.randn(5, dtype=D, generator=g).requires_grad_()
    scale = (torch.rand(5, dtype=D, generator=g) + 0.5).requires_grad_()
    z = est.normal_rsample(loc, scale, generator=_rng(3))
    torch.sin(z).sum().backward()
    xi = torch.randn(5, dtype=D, generator=_rng(3))
    zz = (loc + scale * xi).detach().numpy()
    np.testing.assert_allclose(loc.grad.numpy(), np.cos(zz), atol=TOL)  # dl/dz * dh/dloc
    np.testing.assert_allclose(scale.grad.numpy(), np.cos(zz) * xi.numpy(), atol=TOL)


def test_iwae_and_vimco_gradients_by_hand():
    g = _rng(4)
    log_w = torch.randn(3, 4, dtype=D, generator=g).requires_grad_()
    log_q = torch.randn(3, 4, dtype=D, generator=g).requires_grad_()
    est.vimco_surrogate(log_w, log_q).backward()
    w, B, K = log_w.detach().numpy(), 3, 4
    hand_w, hand_q = np.zeros((B, K)), np.zeros((B, K))
    for b in range(B):
        bound = np.log(np.mean(np.exp(w[b])))
        hand_w[b] = -np.exp(w[b]) / np.exp(w[b]).sum() / B
        for k in range(K):
            others = np.delete(w[b], k)
            loo = np.log((np.exp(others).sum() + np.exp(others.mean())) / K)
            hand_q[b, k] = -(bound - loo) / B
    np.testing.assert_allclose(log_w.grad.numpy(), hand_w, atol=TOL)
    np.testing.assert_allclose(log_q.grad.numpy(), hand_q, atol=TOL)
    lw = log_w.detach().clone().requires_grad_()
    est.iwae_bound(lw).sum().backward()
    np.testing.assert_allclose(lw.grad.numpy(), -hand_w * B, atol=TOL)


def test_relaxed_presence_gradient_by_hand():
    logits = torch.randn(4, 3, dtype=D, generator=_rng(6)).requires_grad_()
    y = est.relaxed_presence(logits, 0.7, generator=_rng(7))
    y.sum().backward()
    yy = y.detach().numpy()
    np.testing.assert_allclose(logits.grad.numpy(), yy * (1 - yy) / 0.7, atol=TOL)
    hard_logits = logits.detach().clone().requires_grad_()
    h = est.relaxed_presence(hard_logits, 0.7, hard=True, generator=_rng(7))
    assert set(h.detach().unique().tolist()) <= {0.0, 1.0}
    np.testing.assert_allclose(h.detach().numpy(), (yy > 0.5).astype(float))
    h.sum().backward()  # straight-through: the soft gradient
    np.testing.assert_allclose(hard_logits.grad.numpy(), logits.grad.numpy(), atol=TOL)


# ------------------------------------------------------------------------------------------------
# Masking: steps after the first z_pres = 0 contribute nothing


def test_later_steps_contribute_nothing_to_any_gradient():
    theta, z, log_lik, other = _per_step_problem(B=64, N=4, seed=8)
    mask = est.step_mask(z)
    dead = mask == 0
    assert dead.any()
    step_terms = (other * 1e6).requires_grad_()  # huge values where they must not count
    log_q = est.presence_log_prob(z, logits=theta)
    baseline = (torch.randn(64, 4, dtype=D) * 1e6).requires_grad_()
    norm = est.SignalNormaliser(4)
    s = est.elbo_surrogate(log_lik, step_terms, log_q, mask, baseline=baseline, normaliser=norm)
    s.loss.backward()
    for grad in (theta.grad, step_terms.grad, baseline.grad):
        assert torch.all(grad[dead] == 0)
    assert torch.all(s.signal[dead] == 0)


def test_toy_steps_after_first_zero_get_no_gradient():
    scene = toy.Scene()
    x, _ = scene.sample(200, _rng(9))
    params = toy.init_params(3, 0, 0.5).expand(200, 3, 6).clone()
    for estimator in ("reinforce", "local", "baseline", "nvil"):
        leaf = params.clone().requires_grad_()
        net = est.BaselineMLP(5).to(D)
        s = toy.surrogate(estimator, scene, leaf, x, baseline_net=net,
                          normaliser=est.SignalNormaliser(3), generator=_rng(10))
        s.loss.backward()
        n = est.count(toy.trace(scene, leaf, x, generator=_rng(10)).z_pres).long()
        for b in range(200):
            assert torch.all(leaf.grad[b, n[b] + 1:] == 0)  # steps that never ran
            if n[b] < 3:
                assert torch.all(leaf.grad[b, n[b], 3:] == 0)  # the step that said "no object"


# ------------------------------------------------------------------------------------------------
# Monte Carlo means against the exact gradient of the toy (enumeration and quadrature)

Z_MAX = 4.5  # per coordinate: |MC mean - exact| < 4.5 standard errors (two-sided p ~ 7e-6)
P_MIN = 1e-3  # joint: Hotelling's T^2 over all coordinates must not be rarer than this


def _assert_unbiased(samples, exact):
    check = toy.check_mean(samples, exact)
    assert check.z.abs().max() < Z_MAX, check
    assert check.p_value > P_MIN, check


@pytest.fixture(scope="module")
def toy_problem():
    scene = toy.Scene()
    x, _ = scene.sample(8, _rng(11))
    params = toy.init_params(3, 1, 0.3)
    fitted = toy.fit("nvil", scene, x, params, 150, learn_q=False, seed=1)
    return scene, x, params, fitted


@pytest.mark.parametrize("estimator", ["reinforce", "local", "baseline", "nvil"])
def test_estimator_is_unbiased_on_exact_toy(toy_problem, estimator):
    scene, x, params, fitted = toy_problem
    exact = toy.exact_gradient(scene, params, x, nodes=16)
    centring = est.SignalNormaliser(3, scale=False)  # NVIL's scaling rescales the score term
    centring.load_state_dict(fitted.normaliser.state_dict())
    centring.eval()
    g = toy.gradient_samples(estimator, scene, params, x, 6000, baseline_net=fitted.baseline_net,
                             normaliser=centring, generator=_rng(12))
    _assert_unbiased(g, exact)


def test_bias_is_detectable_relaxation_is_biased(toy_problem):
    scene, x, params, _ = toy_problem
    exact = toy.exact_gradient(scene, params, x, nodes=16)
    g = toy.gradient_samples("relaxed", scene, params, x, 6000, temperature=0.5, generator=_rng(13))
    check = toy.check_mean(g, exact)
    assert check.z.abs().max() > 10 and check.p_value < 1e-12


@pytest.mark.parametrize("K", [2, 3])
def test_vimco_is_unbiased_for_exact_iwae_bound(toy_problem, K):
    scene, x, _, _ = toy_problem
    params = toy.init_params(3, 2, 0.3)
    exact = toy.exact_gradient(scene, params, x, K=K, collapsed=True)
    g = toy.gradient_samples("vimco", scene, params, x, 6000, samples=K, collapsed=True,
                             generator=_rng(14))
    _assert_unbiased(g, exact)


def test_check_mean_rejects_a_shifted_mean_and_demands_exact_zeros():
    g = torch.randn(4000, 5, dtype=D, generator=_rng(17)) @ torch.randn(5, 5, dtype=D, generator=_rng(18))
    assert toy.check_mean(g, torch.zeros(5, dtype=D)).p_value > P_MIN
    assert toy.check_mean(g, torch.full((5,), 0.2, dtype=D)).p_value < 1e-6
    g0 = torch.cat([g, torch.zeros(4000, 1, dtype=D)], 1)
    assert toy.check_mean(g0, torch.zeros(6, dtype=D)).p_value > P_MIN
    assert toy.check_mean(g0, torch.tensor([0, 0, 0, 0, 0, 1e-3], dtype=D)).p_value == 0.0


def test_toy_exact_quantities_are_consistent():
    scene = toy.Scene()
    x, _ = scene.sample(6, _rng(15))
    params = toy.init_params(3, 3, 0.3)
    e16, e32 = toy.exact(scene, params, x, nodes=16), toy.exact(scene, params, x, nodes=32)
    assert torch.allclose(e16.elbo, e32.elbo, atol=1e-8)  # quadrature has converged
    assert torch.allclose(e16.q_n.sum(1), torch.ones(6, dtype=D))
    assert torch.all(e16.elbo <= scene.log_evidence(x))
    mc = toy.trace(scene, params, x.repeat(100_000), generator=_rng(16)).elbo.reshape(-1, 6)
    assert torch.all((mc.mean(0) - e16.elbo).abs() < 5 * mc.std(0) / math.sqrt(100_000))
    # p(x | n) is a density in x with mean n mu (trapezoid over a wide grid)
    grid = torch.linspace(-10, 20, 30001, dtype=D)
    dens = scene.log_lik_n(grid).exp()
    assert torch.allclose(torch.trapezoid(dens, grid, dim=0), torch.ones(4, dtype=D), atol=1e-8)
    assert torch.allclose(torch.trapezoid(dens * grid[:, None], grid, dim=0),
                          torch.arange(4, dtype=D) * scene.mu, atol=1e-6)
    assert torch.allclose(toy.exact_iwae(scene, params, x, 1),
                          toy.exact(scene, params, x, collapsed=True).elbo, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# Invalid arguments


def test_invalid_arguments_raise_clear_errors():
    ok = torch.full((2, 3), 0.5, dtype=D)
    with pytest.raises(ValueError, match="open interval"):
        est.sample_presence(probs=torch.tensor([[0.5, 1.2]]))
    with pytest.raises(ValueError, match="open interval"):
        est.presence_log_prob(torch.ones(1, 2), probs=torch.tensor([[0.0, 0.5]]))
    with pytest.raises(ValueError, match="exactly one"):
        est.sample_presence()
    with pytest.raises(ValueError, match="shapes must match"):
        est.score_function_surrogate(ok, torch.zeros(2, 4), ok)
    with pytest.raises(ValueError, match="shapes must match"):
        est.elbo_surrogate(torch.zeros(2), ok, ok, torch.ones(3, 3))
    with pytest.raises(ValueError, match="batch sizes differ"):
        est.learning_signal(torch.zeros(3), ok)
    with pytest.raises(ValueError, match="K"):
        est.vimco_surrogate(torch.zeros(2, 1), torch.zeros(2, 1))
    with pytest.raises(ValueError, match="K"):
        est.iwae_bound(torch.zeros(2, 0))
    with pytest.raises(ValueError, match="repeats"):
        toy.gradient_samples("local", toy.Scene(), toy.init_params(3, 0), torch.zeros(2, dtype=D), -1)
    with pytest.raises(ValueError, match="counts"):
        est.unary(torch.tensor([4]), 3)
    with pytest.raises(ValueError, match="temperature"):
        est.relaxed_presence(ok, 0.0)
    with pytest.raises(ValueError, match="scale"):
        est.normal_rsample(ok, -ok)
    with pytest.raises(ValueError, match="sum to one"):
        est.presence_prior_probs(torch.tensor([0.5, 0.6]))
    with pytest.raises(ValueError, match="unknown estimator"):
        toy.surrogate("bogus", toy.Scene(), toy.init_params(3, 0), torch.zeros(2, dtype=D))
    with pytest.raises(ValueError, match="unknown profile"):
        toy.study("huge")
