"""Gradient estimators for the variable-length ELBO of Sec. I-B (Eqs. 3 to 7).

Everything works on per-step tensors that any model produces: ``B`` images, ``N`` steps, ``K``
samples per image. Every surrogate is a *loss to minimise* whose gradient is minus the estimator of
the bound's gradient, so it plugs into any ``torch.optim`` optimiser.

The unary z_pres code (Sec. I-A, Eq. 2; :mod:`airlib.presence`, re-exported here): n ones, then a zero.
    sample_presence(probs | logits (B, N)) -> z_pres (B, N), zeros after the first zero
    sample_presence_step(prev (B,), probs | logits (B,)) -> (B,), one step of a recurrent model
    step_mask(z_pres) -> (B, N): steps that run (z_pres^{1:i-1} = 1); weighs log q(z_pres^i)
    object_mask(z_pres) -> (B, N): steps that describe an object; weighs z_what, z_where terms
    count(z_pres) -> n (B,);  unary(n (B,), N) -> (B, N)
    presence_log_prob(z_pres, probs | logits (B, N), or probs a float rho) -> (B, N) masked;
        .sum(-1) = log q(n | x) (or log p(n) of the truncated geometric prior for a float rho)
    presence_prior_probs(prior_n (N+1,)) -> (N,) per-step P(z_pres^i = 1 | z_pres^{1:i-1} = 1)
Pathwise gradients, Eq. (6):
    normal_rsample(loc, scale) -> z = loc + scale * xi;  normal_log_prob(z, loc, scale)
    normal_kl(loc_q, scale_q, loc_p, scale_p) -> KL(q || p) elementwise, the analytic Gaussian term
Score-function gradients, Eq. (7), with NVIL's variance reduction [25]:
    learning_signal(log_lik (B,), step_terms (B, N), mask (B, N), local=True) -> signal (B, N):
        step i is credited with log_lik + sum_{j >= i} step_terms_j (local) or the whole l (plain).
        log_lik: terms every step affects (log p(x | z), a global prior over n); step_terms: step
        i's own log p - log q (z_pres^i times step_mask, z_what^i, z_where^i times object_mask).
    score_function_surrogate(log_q (B, N), signal (B, N), mask (B, N)) -> scalar
    BaselineMLP(in_features, hidden, activation): (..., in_features) detached features of x,
        z^{1:i-1} -> (...)
    baseline_loss(baseline (B, N), signal (B, N), mask (B, N)) -> scalar regression loss
    SignalNormaliser(n_steps, momentum=0.9, scale=True)(signal, mask) -> (B, N): running
        centring and scaling (signal - c_i) / max(1, sqrt(v_i))
    elbo_surrogate(log_lik, step_terms, log_q, mask, baseline=None, normaliser=None, local=True,
        normalise="after" | "before", samples=K, discrete_terms=None, fixed_terms=None,
        pathwise_log_lik=None) -> Surrogate(loss, elbo (B,), signal (B, N)): the whole recipe in
        one call, the one every model trains with (toy, AIR, the 3D and table-top networks)
Beyond the paper:
    vimco_surrogate(log_w (B, K), log_q (B, K)) -> scalar: VIMCO, leave-one-out baselines, K >= 2
    relaxed_presence(logits (B, N), temperature, hard=False) -> (B, N): binary Concrete z_pres,
        straight-through rounding with hard=True (test time)
    iwae_bound(log_w (B, K)) -> (B,): log (1/K) sum_k w_k, for evaluating trained models
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import nn

from .presence import (_check_ndim, _check_same_shape, check_num_samples, count, object_mask,  # noqa: F401
                       presence_log_prob, presence_prior_probs, sample_presence, sample_presence_step, step_mask,
                       unary)

# ---------- Pathwise gradients, Eq. (6)


def normal_rsample(loc: torch.Tensor, scale: torch.Tensor,
                   generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Reparameterised Gaussian sample z = h(xi, omega) = loc + scale * xi, xi ~ N(0, 1).

    Eq. (6): dL/domega ~= dl/dz * dh/domega; autograd through the returned z gives exactly this.
    Args: loc (...), scale (...) positive, broadcastable. Returns (...) differentiable samples.
    """
    if torch.any(scale <= 0):
        raise ValueError("scale must be positive")
    loc, scale = torch.broadcast_tensors(loc, scale)
    xi = torch.randn(loc.shape, generator=generator, dtype=loc.dtype, device=loc.device)
    return loc + scale * xi


def normal_log_prob(z: torch.Tensor, loc: torch.Tensor | float,
                    scale: torch.Tensor | float) -> torch.Tensor:
    """Elementwise log N(z; loc, scale^2); ``loc`` and ``scale`` broadcast (floats allowed)."""
    scale = torch.as_tensor(scale, dtype=z.dtype, device=z.device)
    return -0.5 * ((z - loc) / scale) ** 2 - torch.log(scale) - 0.5 * math.log(2 * math.pi)


def normal_kl(loc_q: torch.Tensor, scale_q: torch.Tensor, loc_p: torch.Tensor | float,
              scale_p: torch.Tensor | float) -> torch.Tensor:
    """Elementwise KL(N(loc_q, scale_q^2) || N(loc_p, scale_p^2)), broadcast (floats allowed for p).

    log(s_p / s_q) + (s_q^2 + (m_q - m_p)^2) / (2 s_p^2) - 1/2: the analytic form of
    E_q[log q(z) - log p(z)], which replaces the sampled log ratio of a Gaussian latent in Eq. (5)
    (same expectation, lower variance; its gradient is still pathwise, Eq. 6).
    """
    scale_p = torch.as_tensor(scale_p, dtype=loc_q.dtype, device=loc_q.device)
    return (torch.log(scale_p / scale_q) + (scale_q ** 2 + (loc_q - loc_p) ** 2) / (2 * scale_p ** 2)
            - 0.5)


# ---------- Score-function gradients, Eq. (7), and NVIL's variance reduction [25]


def learning_signal(log_lik: torch.Tensor, step_terms: torch.Tensor,
                    mask: Optional[torch.Tensor] = None, local: bool = True) -> torch.Tensor:
    """The learning signal each step's discrete choice is credited with (detached).

    The ELBO sample of Eq. (5) is l = log_lik + sum_i step_terms_i. Step i's choice cannot change
    the terms of steps j < i (they were fixed before it), so with ``local=True`` step i keeps
    log_lik + sum_{j >= i} step_terms_j; the dropped terms have zero-mean score products, so the
    estimator stays unbiased and loses their variance.

    Args:
        log_lik: (B,) terms every step affects: log p(x | z), and any prior over n not written
            per step.
        step_terms: (B, N) step i's own terms: log p(z^i) - log q(z^i | ...) of its continuous
            latents (times object_mask) and log p(z_pres^i) - log q(z_pres^i) (times step_mask).
        mask: optional (B, N) step mask, multiplied into step_terms and the result.
        local: keep only the terms a step can affect (True) or give every step the whole l.

    Returns:
        (B, N) signal, detached from the graph.
    """
    _check_ndim("step_terms", step_terms, 2)
    _check_ndim("log_lik", log_lik, 1)
    if log_lik.shape[0] != step_terms.shape[0]:
        raise ValueError(f"batch sizes differ: log_lik {tuple(log_lik.shape)}, "
                         f"step_terms {tuple(step_terms.shape)}")
    if mask is not None:
        _check_same_shape(step_terms=step_terms, mask=mask)
        step_terms = step_terms * mask
    step_terms = step_terms.detach()
    if local:
        later = torch.flip(torch.cumsum(torch.flip(step_terms, [1]), 1), [1])  # (B, N) sum_{j>=i}
    else:
        later = step_terms.sum(1, keepdim=True).expand_as(step_terms)
    signal = log_lik.detach().unsqueeze(1) + later
    return signal * mask if mask is not None else signal


def score_function_surrogate(log_q: torch.Tensor, signal: torch.Tensor,
                             mask: torch.Tensor) -> torch.Tensor:
    """Surrogate loss whose gradient is minus the likelihood-ratio estimator of Eq. (7).

    grad = -(1/B) sum_b sum_i mask_bi * signal_bi * d log q(z^i_b | omega^i_b) / d phi.

    Args:
        log_q: (B, N) per-step log q of the discrete choices (e.g. ``presence_log_prob``).
        signal: (B, N) learning signal (baseline-subtracted, normalised); treated as a constant.
        mask: (B, N) step mask.
    """
    _check_same_shape(log_q=log_q, signal=signal, mask=mask)
    _check_ndim("log_q", log_q, 2)
    return -(mask * log_q * signal.detach()).sum(1).mean()


class BaselineMLP(nn.Module):
    """Takes features of the image and of the latents produced before step i to the baseline b_i.

    NVIL's input-dependent baseline [25]: it may depend on anything fixed before step i's choice
    (x, z^{1:i-1}, the recurrent state), never on the choice itself, so it leaves Eq. (7) unbiased.
    Its inputs must come detached (``baseline_loss`` would otherwise train the inference network).

    Args:
        in_features: size of the feature vector.
        hidden: hidden units of the one hidden layer.
        activation: the hidden layer's nonlinearity (a module class, e.g. ``nn.Tanh``, ``nn.ReLU``).
    """

    def __init__(self, in_features: int, hidden: int = 32, activation: type[nn.Module] = nn.Tanh):
        super().__init__()
        check_num_samples(in_features, 1, "in_features")
        check_num_samples(hidden, 1, "hidden")
        self.net = nn.Sequential(nn.Linear(in_features, hidden), activation(), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(..., in_features), e.g. (B, N, F) or one step's (B, F) -> (...) baseline values."""
        return self.net(features).squeeze(-1)


def baseline_loss(baseline: torch.Tensor, signal: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Regression of the baseline on the learning signal: mean_b sum_i mask (signal - b)^2.

    The baseline's inputs (image features, recurrent state, earlier latents) must be detached from
    the inference network, or this regression will also train the inference network.

    Args:
        baseline: (B, N) b(x, z^{1:i-1}), with gradient to the baseline's parameters only.
        signal: (B, N) raw learning signal (from ``learning_signal``), treated as a constant.
        mask: (B, N) step mask.

    Returns:
        Scalar loss; its minimiser is E[signal_i | x, z^{1:i-1}].
    """
    _check_same_shape(baseline=baseline, signal=signal, mask=mask)
    return (mask * (signal.detach() - baseline) ** 2).sum(1).mean()


class SignalNormaliser(nn.Module):
    """NVIL's running centring and scaling of the learning signal, one pair of statistics per step.

    Returns (signal - c_i) / max(1, sqrt(v_i)), where c_i and v_i are exponential moving averages
    of the mean and variance of step i's signal over earlier batches. The statistics are read
    *before* they are updated with the current batch, so c_i is independent of the current samples
    and the centred estimator stays exactly unbiased (NVIL updates first; the difference is
    O(1/B)). The scaling divides the score term by a positive number: an adaptive learning rate
    that leaves the direction of each step's estimate, and its signal-to-noise ratio, unchanged.
    """

    def __init__(self, n_steps: int, momentum: float = 0.9, scale: bool = True):
        super().__init__()
        check_num_samples(n_steps, 1, "n_steps")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
        self.momentum, self.scale = momentum, scale
        self.register_buffer("mean", torch.zeros(n_steps))
        self.register_buffer("var", torch.ones(n_steps))
        self.register_buffer("initialised", torch.zeros(n_steps, dtype=torch.bool))

    def forward(self, signal: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, N) signal and step mask -> (B, N) centred, scaled signal (detached)."""
        _check_same_shape(signal=signal, mask=mask)
        if signal.shape[1] != self.mean.shape[0]:
            raise ValueError(f"signal has {signal.shape[1]} steps, normaliser {self.mean.shape[0]}")
        signal = signal.detach()
        mean = self.mean.to(signal.dtype)
        out = signal - mean
        if self.scale:
            out = out / torch.sqrt(self.var.to(signal.dtype)).clamp(min=1.0)
        if self.training:
            self._update(signal, mask.detach())
        return out * mask

    @torch.no_grad()
    def _update(self, signal: torch.Tensor, mask: torch.Tensor) -> None:
        used = mask.sum(0)  # (N,)
        seen = used > 0
        m = (mask * signal).sum(0) / used.clamp(min=1)
        v = (mask * (signal - m) ** 2).sum(0) / used.clamp(min=1)
        a = torch.where(self.initialised, torch.full_like(self.mean, self.momentum),
                        torch.zeros_like(self.mean))
        new_mean = a * self.mean + (1 - a) * m.to(self.mean.dtype)
        new_var = a * self.var + (1 - a) * v.to(self.var.dtype)
        self.mean.copy_(torch.where(seen, new_mean, self.mean))
        self.var.copy_(torch.where(seen, new_var, self.var))
        self.initialised |= seen


class Surrogate(NamedTuple):
    """What ``elbo_surrogate`` returns."""
    loss: torch.Tensor    # scalar, minimise it
    elbo: torch.Tensor    # (B,) ELBO samples l of Eq. (5), detached
    signal: torch.Tensor  # (B, N) raw learning signal, before baseline and normalisation


def elbo_surrogate(log_lik: torch.Tensor, step_terms: torch.Tensor, log_q: Optional[torch.Tensor],
                   mask: torch.Tensor, baseline: Optional[torch.Tensor] = None,
                   normaliser: Optional[SignalNormaliser] = None, local: bool = True, *,
                   normalise: str = "after", samples: int = 1,
                   discrete_terms: Optional[torch.Tensor] = None,
                   fixed_terms: Optional[torch.Tensor] = None,
                   pathwise_log_lik: Optional[torch.Tensor] = None) -> Surrogate:
    """The estimator of Sec. I-B as one loss, with NVIL's variance reduction [25].

    l = log_lik + sum_i mask_i step_terms_i (+ fixed_terms) is the ELBO sample of Eq. (5); the
    loss's gradient is minus the estimate of the bound's gradient::

        loss = -mean_b l_b                               Eq. (6), autograd through reparameterised z
               + score_function_surrogate(log_q, A, mask)
                   = -mean_b sum_i mask_i A_i log q(z^i | omega^i)    Eq. (7), l replaced by A_i
               + baseline_loss(baseline, S, mask)        NVIL's regression, when a baseline is given

    with signal = ``learning_signal(log_lik, step_terms (+ discrete_terms), mask, local)`` (step i
    keeps the terms its choice can change), S = signal, or ``normaliser(signal)`` with
    ``normalise="before"``, and A = S - b, then ``normaliser(A)`` with ``normalise="after"``. The
    baseline b is ``baseline``, or with ``samples`` K > 1 the mean S of the other K - 1 samples of
    the same image; neither depends on step i's choice, so the estimator stays unbiased. The -l term
    also carries the direct gradient of -log q of the discrete choices (zero in expectation) unless
    ``discrete_terms`` keeps them out of it.

    Args:
        log_lik: (B,) log p(x | z) (plus any prior over n not written per step), differentiable.
        step_terms: (B, N) per-step log p - log q of step i's latents (with ``discrete_terms``:
            of its continuous latents only), differentiable.
        log_q: (B, N) log q of step i's discrete choices (``presence_log_prob``, plus e.g. a
            categorical's), differentiable in phi; None: no score-function term (the choices are
            not trained, e.g. during a warm-up; the normaliser and the baseline still learn).
        mask: (B, N) ``step_mask`` of the sampled z_pres.
        baseline: optional (B, N) b(x, z^{1:i-1}), differentiable in the baseline's parameters only
            (compute it from detached inputs).
        normaliser: optional ``SignalNormaliser``.
        local: credit each step only with the terms it affects.
        normalise: ``"after"`` (NVIL: normalise the baseline-subtracted signal; the baseline
            regresses on the raw signal) or ``"before"`` (normalise the raw signal, and fit and
            subtract the baseline on that scale: a small network cannot reach a raw signal of
            ~1e4 nats).
        samples: K, rows are K samples of each image, sample index fastest
            (``repeat_interleave``); K > 1 replaces ``baseline`` by the leave-one-out mean.
        discrete_terms: optional (B, N) log p - log q of step i's discrete choices, kept apart from
            ``step_terms``: in l and in the signal, not in the pathwise term.
        fixed_terms: optional (B,) terms of l fixed before any step (a camera sampled first): in l
            and its gradient, in no step's signal.
        pathwise_log_lik: optional (B,) log-likelihood that replaces ``log_lik`` in the pathwise
            term only (l - log_lik + pathwise_log_lik); the signal and the returned ELBO keep
            ``log_lik``. Then the loss is no longer one objective's gradient.

    Returns:
        ``Surrogate(loss, elbo, signal)``.
    """
    if normalise not in ("after", "before"):
        raise ValueError(f"normalise must be 'after' or 'before', got {normalise!r}")
    K = check_num_samples(samples, 1, "samples")
    if K > 1 and baseline is not None:
        raise ValueError("samples > 1 uses the leave-one-out baseline: pass no baseline")
    _check_same_shape(step_terms=step_terms, log_q=log_q, mask=mask, baseline=baseline,
                      discrete_terms=discrete_terms)
    if log_lik.shape[0] % K:
        raise ValueError(f"{log_lik.shape[0]} rows are not groups of samples={K}")
    terms = step_terms if discrete_terms is None else discrete_terms + step_terms
    elbo = log_lik + (terms * mask).sum(1)  # (B,)
    if fixed_terms is not None:
        elbo = elbo + fixed_terms
    pathwise = elbo
    if discrete_terms is not None:
        pathwise = log_lik + (step_terms * mask).sum(1)
        if fixed_terms is not None:
            pathwise = pathwise + fixed_terms
    if pathwise_log_lik is not None:
        pathwise = pathwise - log_lik + pathwise_log_lik
    signal = learning_signal(log_lik, terms, mask, local)  # (B, N)
    target = normaliser(signal, mask) if normaliser is not None and normalise == "before" else signal
    credited = target
    if baseline is not None:
        credited = target - baseline.detach()
    elif K > 1:
        s = target.view(-1, K, target.shape[1])  # (B / K, K, N)
        loo = (s.sum(1, keepdim=True) - s) / (K - 1)
        credited = (s - loo).view(-1, target.shape[1])
    if normaliser is not None and normalise == "after":
        credited = normaliser(credited, mask)
    loss = -pathwise.mean()
    if log_q is not None:
        loss = loss + score_function_surrogate(log_q, credited, mask)
    if baseline is not None:
        loss = loss + baseline_loss(baseline, target, mask)
    return Surrogate(loss, elbo.detach(), signal)


# ---------- Beyond the paper: VIMCO, the Concrete relaxation, and the IWAE bound for evaluation


def iwae_bound(log_w: torch.Tensor) -> torch.Tensor:
    """Importance-weighted bound L_K = log (1/K) sum_k p(x, z_k, n_k) / q(z_k, n_k | x).

    L_1 is the ELBO of Eq. (3); L_K rises towards log p(x) as K grows.
    Args: log_w (B, K) log-weights of K >= 1 samples per image. Returns (B,), differentiable.
    """
    _check_ndim("log_w", log_w, 2)
    check_num_samples(log_w.shape[1], 1, "K")
    return torch.logsumexp(log_w, dim=1) - math.log(log_w.shape[1])


def vimco_surrogate(log_w: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """VIMCO (Mnih & Rezende, 2016): score function for L_K with leave-one-out baselines.

    grad L_K ~= sum_k (L_K - L_K^{-k}) d log q(h_k) + sum_k w~_k d log w_k, where w~ are the
    normalised weights and L_K^{-k} replaces log w_k by the mean of the other K - 1 log-weights.

    Args:
        log_w: (B, K) log-weights, differentiable (pathwise part through continuous latents).
        log_q: (B, K) summed log q of each sample's discrete choices, differentiable in phi.
    """
    _check_same_shape(log_w=log_w, log_q=log_q)
    _check_ndim("log_w", log_w, 2)
    K = check_num_samples(log_w.shape[1], 2, "K (VIMCO needs at least two samples)")
    bound = iwae_bound(log_w)  # (B,)
    w = log_w.detach()
    loo_mean = (w.sum(1, keepdim=True) - w) / (K - 1)  # (B, K) mean of the others
    eye = torch.eye(K, dtype=torch.bool, device=w.device)
    replaced = torch.where(eye, loo_mean.unsqueeze(2), w.unsqueeze(1))  # (B, K, K) row k: w_{-k}
    loo_bound = torch.logsumexp(replaced, dim=2) - math.log(K)  # (B, K)
    credit = bound.detach().unsqueeze(1) - loo_bound  # (B, K)
    return -(bound + (credit * log_q).sum(1)).mean()


def relaxed_presence(logits: torch.Tensor, temperature: float, hard: bool = False,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Binary Concrete (Gumbel-softmax) relaxation of z_pres (Maddison et al.; Jang et al., 2017).

    y = sigmoid((logit + log u - log(1 - u)) / temperature), u ~ U(0, 1): y -> Bernoulli(sigmoid(logit))
    as temperature -> 0. With ``hard=True`` the forward value is round(y) and the gradient is dy's
    (straight-through), which is what the model sees at test time. The gradient is biased for the
    discrete model at any temperature > 0.

    Args: logits (B, N); temperature > 0; hard: round in the forward pass (straight-through).
    Returns (B, N) relaxed presence in (0, 1) (or {0, 1} when hard), differentiable in the logits.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    u = torch.rand(logits.shape, generator=generator, dtype=logits.dtype, device=logits.device)
    u = u.clamp(1e-12, 1 - 1e-12)
    y = torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / temperature)
    if hard:
        y = (y > 0.5).to(y.dtype) + (y - y.detach())  # exact 0 or 1 forward
    return y
