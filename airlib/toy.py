"""An exact trans-dimensional toy: a one-pixel scene of up to N objects, Eq. (1) in closed form.

The model: n ~ p_N(n) proportional to rho^n on 0..N; each object's brightness z^i ~ N(mu, s^2);
the pixel x = sum_{i <= n} z^i + sigma * noise. So p(x | n) = N(x; n mu, n s^2 + sigma^2), and log p(x),
p(n | x) are exact by enumeration over n.

The inference network (Eq. 2) runs N steps; step i sees the residual r^i = x - sum_{j < i} z^j
(what earlier steps left unexplained, the role of h^{i-1} in Sec. I-B) and outputs
q(z_pres^i = 1) = sigmoid(a_i + b_i r^i + c_i (r^i)^2) and q(z^i) = N(alpha_i r^i + beta_i, exp(gamma_i)^2).
Its ELBO and gradient are exact by enumeration over n and Gauss-Hermite quadrature over z (``exact``).
The ``collapsed`` variant integrates the brightnesses out of the model, leaving only n to infer, so
that the K-sample bound is exact by enumeration too (``exact_iwae``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np
import torch
from torch.nn import functional as F

from airlib import estimators as est
from airlib.profiles import select

DTYPE = torch.float64
N_PARAMS = 6  # per step: a, b, c (presence logit), alpha, beta (location), gamma (log scale)
ESTIMATORS = ("reinforce", "local", "baseline", "nvil", "vimco", "relaxed")


@dataclass(frozen=True)
class Scene:
    """The generative model p_theta(x, z, n) of the toy; its parameters are fixed, not learned."""
    N: int = 3          # most objects
    rho: float = 0.5    # p_N(n) proportional to rho^n: smaller rho favours fewer objects
    mu: float = 2.0     # mean brightness of an object
    s: float = 0.5      # spread of an object's brightness
    sigma: float = 0.5  # pixel noise

    def prior_n(self) -> torch.Tensor:
        """(N + 1,) p_N(n) for n = 0..N."""
        w = torch.tensor([self.rho ** n for n in range(self.N + 1)], dtype=DTYPE)
        return w / w.sum()

    def log_lik_n(self, x: torch.Tensor) -> torch.Tensor:
        """(M,) pixels -> (M, N + 1) log p(x | n), the brightnesses integrated out."""
        n = torch.arange(self.N + 1, dtype=DTYPE)
        return est.normal_log_prob(x[:, None], n * self.mu, torch.sqrt(n * self.s ** 2 + self.sigma ** 2))

    def log_evidence(self, x: torch.Tensor) -> torch.Tensor:
        """(M,) -> (M,) exact log p(x) = log sum_n p_N(n) p(x | n), Eq. (1)."""
        return torch.logsumexp(self.prior_n().log() + self.log_lik_n(x), dim=1)

    def posterior_n(self, x: torch.Tensor) -> torch.Tensor:
        """(M,) -> (M, N + 1) exact p(n | x)."""
        return torch.softmax(self.prior_n().log() + self.log_lik_n(x), dim=1)

    def sample(self, M: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Draws M scenes; returns pixels x (M,) and counts n (M,)."""
        n = torch.multinomial(self.prior_n(), M, replacement=True, generator=generator)
        z = self.mu + self.s * torch.randn(M, self.N, generator=generator, dtype=DTYPE)
        z = z * est.unary(n, self.N).to(DTYPE)
        return z.sum(1) + self.sigma * torch.randn(M, generator=generator, dtype=DTYPE), n


def init_params(N: int, seed: int, spread: float = 0.1) -> torch.Tensor:
    """(N, 6) inference-network parameters: small random values, one row per step."""
    g = torch.Generator().manual_seed(seed)
    return spread * torch.randn(N, N_PARAMS, generator=g, dtype=DTYPE)


def _step(params: torch.Tensor, i: int, r: torch.Tensor):
    """Step i of the inference network: residual r (...) -> presence logit, z location, z scale."""
    p = params[..., i, :]  # (6,) or (B, 6)
    logit = p[..., 0] + p[..., 1] * r + p[..., 2] * r * r
    return logit, p[..., 3] * r + p[..., 4], torch.exp(p[..., 5])


class Trace(NamedTuple):
    """One posterior sample per pixel, as the per-step tensors the estimators consume."""
    z_pres: torch.Tensor      # (B, N) unary code (relaxed values in (0, 1) when relaxed)
    mask: torch.Tensor        # (B, N) step mask
    log_q_pres: torch.Tensor  # (B, N) log q(z_pres^i | x, z^{1:i-1})
    step_terms: torch.Tensor  # (B, N) log p - log q of step i's latents
    log_lik: torch.Tensor     # (B,) log p(x | z) (log p(x | n) when collapsed)
    features: torch.Tensor    # (B, N, 5) baseline inputs: x, r^i, one-hot step (detached)

    @property
    def elbo(self) -> torch.Tensor:
        """(B,) the ELBO sample l of Eq. (5)."""
        return self.log_lik + (self.step_terms * self.mask).sum(1)


def trace(scene: Scene, params: torch.Tensor, x: torch.Tensor, relaxed: bool = False,
          temperature: float = 0.5, collapsed: bool = False, explain_away: bool = True,
          generator: Optional[torch.Generator] = None) -> Trace:
    """Runs the inference network on pixels x (B,) with params (N, 6) or per sample (B, N, 6).

    ``relaxed`` replaces z_pres by its binary Concrete relaxation; ``collapsed`` infers n only;
    ``explain_away=False`` feeds every step x instead of the residual (no conditioning on z^{1:i-1}).
    """
    B, N = x.shape[0], scene.N
    r, obj = x, torch.ones_like(x)
    pres, logits, terms, feats = [], [], [], []
    eye = torch.eye(N, dtype=DTYPE)
    for i in range(N):
        seen = r if explain_away else x
        if collapsed:
            seen = x - i * scene.mu
        logit, loc, scale = _step(params, i, seen)
        feats.append(torch.cat([torch.stack([x, seen], 1), eye[i].expand(B, N)], 1).detach())
        if relaxed:
            y = est.relaxed_presence(logit[:, None], temperature, generator=generator)[:, 0]
        else:
            y = est.sample_presence_step(obj, logits=logit, generator=generator)
        obj = obj * y
        if collapsed:
            terms.append(torch.zeros_like(x))
        else:
            z = loc + scale * torch.randn(B, generator=generator, dtype=DTYPE)  # Eq. (6)
            terms.append(est.normal_log_prob(z, scene.mu, torch.tensor(scene.s, dtype=DTYPE))
                         - est.normal_log_prob(z, loc, scale))
            r = r - obj * z
        pres.append(y)
        logits.append(logit)
    z_pres, logits = torch.stack(pres, 1), torch.stack(logits, 1)  # (B, N)
    mask, objects = est.step_mask(z_pres), est.object_mask(z_pres)
    log_q = est.presence_log_prob(z_pres, logits=logits)
    rho = est.presence_prior_probs(scene.prior_n()).expand(B, N)
    log_p = est.presence_log_prob(z_pres, probs=rho)
    step_terms = log_p - log_q + objects * torch.stack(terms, 1)
    if collapsed:
        n = est.count(z_pres).long()
        log_lik = scene.log_lik_n(x).gather(1, n[:, None])[:, 0]
    else:
        log_lik = est.normal_log_prob(x, x - r, torch.tensor(scene.sigma, dtype=DTYPE))
    return Trace(z_pres, mask, log_q, step_terms, log_lik, torch.stack(feats, 1))


class Exact(NamedTuple):
    elbo: torch.Tensor  # (M,) ELBO, differentiable in params
    q_n: torch.Tensor   # (M, N + 1) q(n | x)


def exact(scene: Scene, params: torch.Tensor, x: torch.Tensor, nodes: int = 24,
          collapsed: bool = False, explain_away: bool = True) -> Exact:
    """The exact ELBO of Eq. (3) and q(n | x): enumeration over n, Gauss-Hermite over z.

    L = E_xi [ sum_n q(n | x, z(xi)) l(z(xi), n) ] with z^i = alpha_i r^i + beta_i + exp(gamma_i) xi_i,
    xi ~ N(0, I_N), integrated on a tensor grid of ``nodes``^N points (exact for polynomials of
    degree < 2 nodes in each xi; the integrand here is smooth).
    """
    N, M = scene.N, x.shape[0]
    log_prior = scene.prior_n().log()
    if collapsed:
        logit = torch.stack([_step(params, i, x - i * scene.mu)[0] for i in range(N)], 1)  # (M, N)
        log_q = _log_q_n(logit)  # (M, N + 1)
        ell = log_prior + scene.log_lik_n(x) - log_q
        return Exact((log_q.exp() * ell).sum(1), log_q.exp())
    t, w = np.polynomial.hermite_e.hermegauss(nodes)
    t, w = torch.tensor(t, dtype=DTYPE), torch.tensor(w / w.sum(), dtype=DTYPE)
    grid = torch.meshgrid(*[t] * N, indexing="ij")  # N tensors of shape (G,) * N
    weight = math.prod(torch.meshgrid(*[w] * N, indexing="ij"))  # (G,) * N
    xs = x.reshape(M, *[1] * N)
    r, logits, obj_terms, explained = xs, [], [], [torch.zeros_like(xs)]
    for i in range(N):
        logit, loc, scale = _step(params, i, r if explain_away else xs)
        z = loc + scale * grid[i]
        logits.append(logit.expand(M, *[nodes] * N))
        obj_terms.append(est.normal_log_prob(z, scene.mu, torch.tensor(scene.s, dtype=DTYPE))
                         + 0.5 * grid[i] ** 2 + torch.log(scale) + 0.5 * math.log(2 * math.pi))
        r = r - z
        explained.append(xs - r)
    log_q = _log_q_n(torch.stack(logits, -1))  # (M, G..., N + 1)
    ell = torch.stack([(log_prior[n] + sum(obj_terms[:n], torch.zeros_like(xs))
                       + est.normal_log_prob(xs, explained[n], torch.tensor(scene.sigma, dtype=DTYPE))
                       ).expand(M, *[nodes] * N) for n in range(N + 1)], -1) - log_q
    q = log_q.exp()
    dims = tuple(range(1, N + 1))
    return Exact(((q * ell).sum(-1) * weight).sum(dims), (q * weight[..., None]).sum(dims))


def _log_q_n(logits: torch.Tensor) -> torch.Tensor:
    """(..., N) presence logits -> (..., N + 1) log q(n) in the unary code of Eq. (2)."""
    log_on, log_off = F.logsigmoid(logits), F.logsigmoid(-logits)
    before = torch.cat([torch.zeros_like(log_on[..., :1]), torch.cumsum(log_on, -1)], -1)
    return before + torch.cat([log_off, torch.zeros_like(log_off[..., :1])], -1)


def exact_iwae(scene: Scene, params: torch.Tensor, x: torch.Tensor, K: int) -> torch.Tensor:
    """(M,) exact K-sample bound of the collapsed toy by enumeration over (N + 1)^K counts."""
    est.check_num_samples(K, 1)
    logit = torch.stack([_step(params, i, x - i * scene.mu)[0] for i in range(scene.N)], 1)
    log_q = _log_q_n(logit)  # (M, N + 1)
    log_w = scene.prior_n().log() + scene.log_lik_n(x) - log_q
    combos = torch.cartesian_prod(*[torch.arange(scene.N + 1)] * K).reshape(-1, K)  # (C, K)
    lq = log_q[:, combos].sum(-1)  # (M, C)
    bound = torch.logsumexp(log_w[:, combos], -1) - math.log(K)  # (M, C)
    return (lq.exp() * bound).sum(1)


def surrogate(estimator: str, scene: Scene, params: torch.Tensor, x: torch.Tensor,
              baseline_net: Optional[est.BaselineMLP] = None,
              normaliser: Optional[est.SignalNormaliser] = None, K: int = 4,
              temperature: float = 0.5, collapsed: bool = False, explain_away: bool = True,
              generator: Optional[torch.Generator] = None) -> est.Surrogate:
    """One named estimator of ``ESTIMATORS`` as a surrogate loss on pixels x (B,).

    reinforce: Eq. (7) with the whole l; local: each step credited with the terms it affects;
    baseline: local minus the learned baseline; nvil: baseline plus running centring and scaling
    (``normaliser``); vimco: K samples per pixel (x (B,) is repeated; params must then be (N, 6) or
    (B * K, N, 6)); relaxed: binary Concrete z_pres, pathwise only.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}: expected one of {ESTIMATORS}")
    if estimator == "vimco":
        t = trace(scene, params, x.repeat_interleave(K), collapsed=collapsed,
                  explain_away=explain_away, generator=generator)
        log_w = t.elbo.reshape(-1, K)
        loss = est.vimco_surrogate(log_w, (t.log_q_pres * t.mask).sum(1).reshape(-1, K))
        return est.Surrogate(loss, log_w.detach().reshape(-1), t.elbo.detach()[:, None])
    if estimator == "relaxed":
        t = trace(scene, params, x, relaxed=True, temperature=temperature,
                  explain_away=explain_away, generator=generator)
        return est.Surrogate(-t.elbo.mean(), t.elbo.detach(), t.elbo.detach()[:, None])
    t = trace(scene, params, x, collapsed=collapsed, explain_away=explain_away, generator=generator)
    baseline = baseline_net(t.features) if estimator in ("baseline", "nvil") else None
    return est.elbo_surrogate(t.log_lik, t.step_terms, t.log_q_pres, t.mask, baseline=baseline,
                              normaliser=normaliser if estimator == "nvil" else None,
                              local=estimator != "reinforce")


def gradient_samples(estimator: str, scene: Scene, params: torch.Tensor, x: torch.Tensor,
                     repeats: int, samples: int = 1, **kwargs) -> torch.Tensor:
    """``repeats`` independent estimates of the gradient of the bound (mean over x (M,)).

    Each estimate averages ``samples`` posterior samples per pixel (VIMCO: one K = samples group).
    Every estimate gets its own copy of the parameters, so one backward pass yields them all.

    Returns:
        (repeats, N * 6) gradient estimates (ascent direction).
    """
    est.check_num_samples(repeats, 1, "repeats")
    est.check_num_samples(samples, 1, "samples")
    M = x.shape[0]
    leaf = params.detach().expand(repeats, *params.shape).clone().requires_grad_(True)
    if estimator == "vimco":
        kwargs["K"] = samples
        xs, per = x.repeat(repeats), leaf.repeat_interleave(M * samples, 0)
    else:
        xs, per = x.repeat_interleave(samples).repeat(repeats), leaf.repeat_interleave(M * samples, 0)
    loss = surrogate(estimator, scene, per, xs, **kwargs).loss
    (grad,) = torch.autograd.grad(loss * repeats, leaf)
    return -grad.reshape(repeats, -1)


def exact_gradient(scene: Scene, params: torch.Tensor, x: torch.Tensor, K: int = 1,
                   collapsed: bool = False, nodes: int = 24) -> torch.Tensor:
    """(N * 6,) exact gradient of the mean ELBO (or of the collapsed K-sample bound) over x (M,)."""
    leaf = params.detach().clone().requires_grad_(True)
    if K > 1:
        value = exact_iwae(scene, leaf, x, K).mean()
    else:
        value = exact(scene, leaf, x, nodes=nodes, collapsed=collapsed).elbo.mean()
    (grad,) = torch.autograd.grad(value, leaf)
    return grad.reshape(-1)


class Fit(NamedTuple):
    params: torch.Tensor             # (N, 6) final inference-network parameters
    steps: list                      # optimisation steps at which the exact quantities were taken
    elbo: list                       # exact mean ELBO over the data at those steps
    q_n: list                        # exact q(n | x), (M, N + 1), at those steps
    baseline_net: est.BaselineMLP
    normaliser: est.SignalNormaliser


def fit(estimator: str, scene: Scene, x: torch.Tensor, params: torch.Tensor, steps: int,
        samples: int = 4, lr: float = 0.02, eval_every: int = 100, nodes: int = 16,
        temperature: float = 0.5, learn_q: bool = True, explain_away: bool = True,
        seed: int = 0) -> Fit:
    """Maximises the ELBO over the pixels x (M,) with one estimator (or "exact") and Adam.

    Each step draws ``samples`` posterior samples per pixel (VIMCO: one group of K = samples).
    The baseline network and the normaliser are trained alongside whatever the estimator; with
    ``learn_q=False`` only they are (to fit a baseline for a fixed q). ``explain_away=False``
    fits the network whose steps all see x instead of the residual.
    """
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    leaf = params.detach().clone().requires_grad_(learn_q)
    net = est.BaselineMLP(2 + scene.N).to(DTYPE)
    normaliser = est.SignalNormaliser(scene.N)
    opt = torch.optim.Adam(([leaf] if learn_q else []) + list(net.parameters()), lr=lr)
    record = Fit(leaf, [], [], [], net, normaliser)
    for step in range(steps + 1):
        if learn_q and (step % eval_every == 0 or step == steps):
            with torch.no_grad():
                e = exact(scene, leaf, x, nodes=nodes, explain_away=explain_away)
            record.steps.append(step)
            record.elbo.append(float(e.elbo.mean()))
            record.q_n.append(e.q_n)
        if step == steps:
            break
        if estimator == "exact":
            s = est.Surrogate(-exact(scene, leaf, x, nodes=nodes, explain_away=explain_away)
                              .elbo.mean(), None, None)
        elif estimator == "vimco":
            s = surrogate("vimco", scene, leaf, x, K=samples, explain_away=explain_away, generator=g)
        else:
            s = surrogate("nvil" if not learn_q else estimator, scene, leaf,
                          x.repeat_interleave(samples), baseline_net=net, normaliser=normaliser,
                          temperature=temperature, explain_away=explain_away, generator=g)
        opt.zero_grad()
        s.loss.backward()
        opt.step()
    return record._replace(params=leaf.detach())


def fit_exact(scene: Scene, x: torch.Tensor, params: torch.Tensor, adam_steps: int = 300,
              lbfgs_iters: int = 300, lr: float = 0.05, nodes: int = 10,
              explain_away: bool = True) -> torch.Tensor:
    """(N, 6) parameters maximising the exact ELBO over x (M,): Adam, then L-BFGS to polish.

    The objective is not concave in the parameters, so this is a good local optimum of the family,
    the reference the estimators are measured against, not a certified global one.
    """
    start = fit("exact", scene, x, params, adam_steps, lr=lr, nodes=nodes, eval_every=adam_steps,
                explain_away=explain_away).params
    leaf = start.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([leaf], max_iter=lbfgs_iters, history_size=50,
                            line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)

    def loss():
        opt.zero_grad()
        value = -exact(scene, leaf, x, nodes=nodes, explain_away=explain_away).elbo.mean()
        value.backward()
        return value

    before = float(loss().detach())
    if lbfgs_iters > 0:
        opt.step(loss)
    after = float(loss().detach())
    return leaf.detach() if math.isfinite(after) and after <= before else start


class MeanCheck(NamedTuple):
    z: torch.Tensor  # (P',) (MC mean - exact) / standard error, coordinates with nonzero variance
    t2: float        # Hotelling's T^2 = R d' S^-1 d over those coordinates
    dof: int         # rank of the sample covariance
    p_value: float   # P(chi2_dof >= T^2): the chance of a worse T^2 if the estimator is unbiased


def check_mean(samples: torch.Tensor, exact: torch.Tensor, rtol: float = 1e-10) -> MeanCheck:
    """Tests the mean of R gradient estimates (R, P) against the exact gradient (P,).

    The coordinates of one estimate share their samples and are correlated, so the joint test is
    Hotelling's T^2 with the sample covariance (chi-squared with rank-many degrees of freedom for
    large R). Coordinates with zero variance must match exactly, else the p-value is 0.
    """
    R = samples.shape[0]
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(R)
    live = se > 0
    d = (mean - exact)[live]
    evals, evecs = torch.linalg.eigh(torch.cov(samples[:, live].T).reshape(int(live.sum()), -1))
    keep = evals > evals.max() * rtol
    t2 = float(R * ((evecs[:, keep].T @ d) ** 2 / evals[keep]).sum())
    dof = int(keep.sum())
    p = float(torch.special.gammaincc(torch.tensor(dof / 2, dtype=DTYPE), torch.tensor(t2 / 2, dtype=DTYPE)))
    if torch.any((mean - exact)[~live].abs() > 1e-12):
        p = 0.0
    return MeanCheck(d / se[live], t2, dof, p)


@dataclass(frozen=True)
class Study:
    """The experiment sizes of chapter 1's study (``airlib.evaluations.toy``)."""
    data: int = 32                         # pixels in the toy data set
    nodes: int = 16                        # Gauss-Hermite nodes per object, exact gradients
    fit_nodes: int = 10                    # the same while training (error < 1e-4 nats)
    exact_steps: int = 300                 # Adam steps on the exact ELBO, then L-BFGS (fit_exact)
    exact_iters: int = 300                 # L-BFGS iterations
    repeats: int = 4000                    # independent gradient estimates per unbiasedness check
    var_repeats: int = 800                 # independent estimates per variance measurement
    sample_sizes: tuple = (1, 2, 4, 8, 16)
    baseline_steps: int = 1500             # regression steps for the baseline at a fixed q
    fit_steps: int = 3000                  # optimisation steps per estimator
    fit_samples: int = 4                   # posterior samples per pixel per step (VIMCO's K)
    lr: float = 0.02
    eval_every: int = 100
    rhos: tuple = (1.0, 0.5, 0.2, 0.05, 0.01)  # priors p_N(n) proportional to rho^n, Occam sweep
    temperature: float = 0.5               # Concrete temperature
    seed: int = 0                          # the study's random stream (data, estimates, fits)


STUDY = {
    "smoke": Study(data=8, nodes=10, fit_nodes=8, exact_steps=20, exact_iters=10, repeats=300, var_repeats=100,
                   sample_sizes=(1, 4), baseline_steps=50, fit_steps=40, eval_every=20,
                   rhos=(1.0, 0.05)),
    "paper": Study(),
}


def study(profile: str) -> Study:
    """The experiment sizes of ``profile``."""
    return select(STUDY, profile)
