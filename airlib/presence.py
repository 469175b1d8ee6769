"""The unary presence code z_pres of Sec. I-A (Eq. 2): n ones, then a zero (no zero when n = N).

Sampling it, its masks (which steps run, which describe an object), the count it encodes, and its log
probability under q or under the truncated geometric prior; with the argument checks the estimators share.
:mod:`airlib.estimators` re-exports every public name, so models write ``est.step_mask``.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch.nn import functional as F

# ---------- Argument checks


def _check_same_shape(**tensors: torch.Tensor) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items() if t is not None}
    # compared pairwise, not in a set: under torch.onnx's tracer a shape's sizes are tensors, hashed by identity
    if any(s != next(iter(shapes.values())) for s in shapes.values()):
        raise ValueError("shapes must match: " + ", ".join(f"{k} {v}" for k, v in shapes.items()))


def _check_ndim(name: str, t: torch.Tensor, ndim: int) -> None:
    if t.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(t.shape)}")


def _check_probs(probs: torch.Tensor, name: str = "probs") -> None:
    if not torch.all((probs > 0) & (probs < 1)):
        bad = probs[~((probs > 0) & (probs < 1))].flatten()[:3].tolist()
        raise ValueError(f"{name} must lie in the open interval (0, 1); got e.g. {bad}. "
                         "Pass logits instead where a sigmoid can saturate.")


def _logits_from(probs: Optional[torch.Tensor], logits: Optional[torch.Tensor]) -> torch.Tensor:
    if (probs is None) == (logits is None):
        raise ValueError("pass exactly one of probs and logits")
    if logits is not None:
        if not torch.all(torch.isfinite(logits)):
            raise ValueError("logits must be finite")
        return logits
    _check_probs(probs)
    return torch.log(probs) - torch.log1p(-probs)


def check_num_samples(k: int, minimum: int = 1, name: str = "K") -> int:
    """Returns ``k`` if it is an integer >= ``minimum``, else raises a ValueError."""
    if isinstance(k, bool) or not isinstance(k, int) or k < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {k!r}")
    return k


# ---------- The unary z_pres code, Sec. I-A


def step_mask(z_pres: torch.Tensor) -> torch.Tensor:
    """Steps that run, (B, N) z_pres in {0, 1} (or relaxed, [0, 1]) -> (B, N) prod_{j < i} z_pres^j."""
    _check_ndim("z_pres", z_pres, 2)
    ones = torch.ones_like(z_pres[:, :1])
    return torch.cumprod(torch.cat([ones, z_pres[:, :-1]], dim=1), dim=1)


def object_mask(z_pres: torch.Tensor) -> torch.Tensor:
    """Steps that describe an object (the first n): (B, N) z_pres -> (B, N) prod_{j <= i} z_pres^j."""
    _check_ndim("z_pres", z_pres, 2)
    return torch.cumprod(z_pres, dim=1)


def count(z_pres: torch.Tensor) -> torch.Tensor:
    """The number of objects n encoded by a unary z_pres: (B, N) -> (B,) (leading ones)."""
    return object_mask(z_pres).sum(dim=1)


def unary(n: torch.Tensor, N: int) -> torch.Tensor:
    """The unary code of Sec. I-A: n ones followed by zeros, (B,) integer -> (B, N) float."""
    check_num_samples(N, 1, "N")
    n = torch.as_tensor(n)
    if torch.any(n < 0) or torch.any(n > N):
        raise ValueError(f"counts must lie in 0..{N}, got {n.tolist()}")
    return (torch.arange(N, device=n.device) < n.unsqueeze(-1)).to(torch.get_default_dtype())


def sample_presence_step(prev: torch.Tensor, probs: Optional[torch.Tensor] = None,
                         logits: Optional[torch.Tensor] = None,
                         generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """One step of the interruption variable: z_pres^i ~ Bernoulli(p^i) if z_pres^{i-1} = 1, else 0.

    Args: prev (B,) the previous step's z_pres (ones at the first step); probs (B,)
    q(z_pres^i = 1 | x, z^{1:i-1}) in (0, 1), or logits (B,). Returns (B,) z_pres^i, no gradient.
    """
    logit = _logits_from(probs, logits)
    _check_same_shape(prev=prev, probs=logit)
    u = torch.rand(logit.shape, generator=generator, dtype=logit.dtype, device=logit.device)
    return (u < torch.sigmoid(logit.detach())).to(logit.dtype) * prev


def sample_presence(probs: Optional[torch.Tensor] = None, logits: Optional[torch.Tensor] = None,
                    generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Samples a unary presence code that stops at the first zero (Eq. 2).

    Args: probs (B, N) per-step q(z_pres^i = 1 | ...) in (0, 1), or logits (B, N).
    Returns (B, N) z_pres: n ones followed by zeros, no gradient.
    """
    logit = _logits_from(probs, logits)
    _check_ndim("probs/logits", logit, 2)
    u = torch.rand(logit.shape, generator=generator, dtype=logit.dtype, device=logit.device)
    return torch.cumprod((u < torch.sigmoid(logit.detach())).to(logit.dtype), dim=1)


def presence_log_prob(z_pres: torch.Tensor, probs: Optional[torch.Tensor | float] = None,
                      logits: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per-step log q(z_pres^i | x, z^{1:i-1}), masked so steps after the first zero add nothing.

    Eq. (2): log q(n | x) = sum_{i <= n} log q(z_pres^i = 1 | ...) + log q(z_pres^{n+1} = 0 | ...),
    which is ``presence_log_prob(...).sum(-1)`` (no trailing zero when n = N). The same function
    gives a prior's log p(n): with ``probs`` a float rho, every step is Bernoulli(rho), the
    geometric prior p(n) = rho^n (1 - rho) truncated at N (Sec. I-A), computed as
    ``z log rho + (1 - z) log(1 - rho)`` with no logit round trip (exact for rho = 1e-7).

    Args:
        z_pres: (B, N) in {0, 1} (a relaxed value in [0, 1] gives the Bernoulli log-mass
            extended linearly in z_pres).
        probs: (B, N) in (0, 1), or a float in (0, 1) for every step, or ``logits`` (B, N)
            (use logits where a sigmoid can saturate).

    Returns:
        (B, N) log-probabilities, zero where ``step_mask(z_pres)`` is zero.
    """
    if isinstance(probs, (float, int)) and not isinstance(probs, bool):
        if logits is not None:
            raise ValueError("pass exactly one of probs and logits")
        if not 0 < probs < 1:
            raise ValueError(f"probs must lie in the open interval (0, 1), got {probs!r}")
        _check_ndim("z_pres", z_pres, 2)
        return (z_pres * math.log(probs) + (1 - z_pres) * math.log1p(-probs)) * step_mask(z_pres)
    logit = _logits_from(probs, logits)
    if logit.dim() == 1:
        logit = logit.expand_as(z_pres)
    _check_same_shape(z_pres=z_pres, logits=logit)
    _check_ndim("z_pres", z_pres, 2)
    log_p = -F.binary_cross_entropy_with_logits(logit, z_pres, reduction="none")
    return log_p * step_mask(z_pres)


def presence_prior_probs(prior_n: torch.Tensor) -> torch.Tensor:
    """Writes a prior p_N(n), n = 0..N (Eq. 1), as per-step presence probabilities.

    rho_i = P(z_pres^i = 1 | z_pres^{1:i-1} = 1) = P(n >= i) / P(n >= i - 1), so that
    p_N(n) = prod_{i <= n} rho_i * (1 - rho_{n+1}) in the unary code.
    Args: prior_n (N + 1,) positive, summing to one. Returns (N,) rho_1..rho_N.
    """
    _check_ndim("prior_n", prior_n, 1)
    if prior_n.numel() < 2 or not torch.all(prior_n > 0):
        raise ValueError("prior_n must hold N + 1 >= 2 positive probabilities")
    if abs(float(prior_n.sum()) - 1.0) > 1e-6:
        raise ValueError(f"prior_n must sum to one, sums to {float(prior_n.sum())}")
    tail = torch.flip(torch.cumsum(torch.flip(prior_n, [0]), 0), [0])  # (N+1,) P(n >= i)
    return (tail[1:] / tail[:-1]).clamp(1e-12, 1 - 1e-12)
