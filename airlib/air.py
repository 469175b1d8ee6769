"""AIR and DAIR for multi-MNIST (Sec. I and II, Fig. 2): the generative model and its inference network.

Generative model (Fig. 2, left), for ``n`` objects out of at most ``N``::

    z_pres^i ~ Bernoulli(rho) while z_pres^{i-1} = 1        (a geometric prior on n, truncated at N)
    z_what^i ~ N(0, I),   z_where^i ~ N(mu_where, diag(sigma_where^2))
    y^i = place(decoder_theta(z_what^i), z_where^i)          (spatial transformer, airlib.spatial)
    x ~ N(sum_i z_pres^i y^i, sigma_x^2 I)                    (the pixel likelihood)

The likelihood is a Gaussian with a fixed standard deviation ``sigma_x = 0.3`` on pixel values in
[0, 1] (the paper leaves it open; Pyro's AIR uses the same). Digits do not overlap, so the canvas is
the plain sum of the objects. ``sigma_x`` sets the Occam's-razor trade-off of the paper: leaving a digit
out costs hundreds of nats of likelihood, while an extra object costs its prior (``log(1/rho)`` for the
presence plus the KL of its ``z_what`` and ``z_where``), more than splitting a digit in two gains.

Inference network (Fig. 2, middle and right), Eq. (2): an LSTM reads the image (AIR) or the error
canvas ``x^i - x`` of the partial reconstruction from steps ``1..i-1`` (DAIR), and the previous step's
latents (``memory=False``, beyond the paper: DAIR's cell restarts from zero at each step, so a step reads its
error canvas alone); it outputs ``q(z_pres^i)`` and ``q(z_where^i)``; the attended window ``x_att^i`` is encoded into
``q(z_what^i)``. All ``N`` steps are computed for the whole batch and steps after the first
``z_pres = 0`` are masked, which keeps the batch dense.

The model owns its loss (:meth:`AIR.loss`, Eqs. 4 to 7) and hands its terms to ``airlib.estimators``:
the densities, the KL of Gaussians, presence sampling and log-probabilities, the step mask, NVIL's
baseline network and the variance-reduced surrogate (``elbo_surrogate``) are the ones the toy model of
chapter 1 uses; this file adds only what is particular to AIR (the networks, the spatial transformer,
the exact stop-value baseline).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import estimators as est
from . import spatial
from .networks import Core, Decoder, Encoder, ImageEmbedding, StepHead

MIN_ZOOM = 0.5      # the smallest z_where scale s: a window at most twice the image's width
PRESENCE_ESTIMATORS = ("score", "concrete")


@dataclass(frozen=True)
class AIRConfig:
    """Architecture and generative model of AIR (``difference=False``) or DAIR (``difference=True``)."""
    difference: bool = False
    image_size: int = 50
    window: int = 28
    max_steps: int = 3                  # N
    lstm: int = 256
    embed: int = 256                    # image features fed to the LSTM
    hidden: int = 200                   # encoder, decoder and baseline hidden units
    z_what: int = 50
    likelihood_sd: float = 0.3          # sigma_x
    pres_prior: float = 1e-7            # rho, after annealing (the training loop may pass another)
    scale_prior: tuple[float, float] = (2.2, 0.1)   # mean, sd of s: objects are about 23 px wide
    shift_prior_sd: float = 1.0
    decoder_bias: float = -2.0          # start from a nearly empty canvas
    init_scale: float = 2.2             # initial q(z_where)'s mean zoom (1 = the whole image) ...
    init_where_sd: float = 0.1          # ... and its standard deviation ...
    init_pres_logit: float = -2.0       # ... and objects mostly absent at first (q = 0.12): step 1 learns
                                        # to find a digit before later steps turn on (no "parking")
    # How z_pres is trained: "score", the paper's likelihood-ratio estimator of Eq. (7) with NVIL's baseline;
    # or "concrete" (beyond the paper), its binary Concrete relaxation at this temperature, trained pathwise
    presence_estimator: str = "score"
    concrete_temperature: float = 1.0
    # False (beyond the paper, DAIR only): each step starts its LSTM cell from a zero state and zero previous
    # latents, so q(z_pres^i) and q(z_where^i) read the error canvas alone and cannot count the steps so far
    memory: bool = True


class State(NamedTuple):
    """The recurrent state carried from step ``i - 1`` to step ``i``."""
    h: Tensor           # (B, lstm)
    c: Tensor           # (B, lstm)
    z_prev: Tensor      # (B, 3 + z_what + 1): z_where, z_what, z_pres of step i - 1
    z_pres: Tensor      # (B,) 1 while every step so far found an object
    canvas: Tensor      # (B, H, W) the reconstruction from steps 1..i-1


class Trace(NamedTuple):
    """Everything one pass of the inference network produced, stacked over the ``N`` steps."""
    z_pres: Tensor          # (B, N) 0/1, unary code of the count
    active: Tensor          # (B, N) 1 where step i decided z_pres^i (all earlier steps present)
    pres_logit: Tensor      # (B, N) logit of q(z_pres^i = 1)
    z_where: Tensor         # (B, N, 3): scale, x, y
    where_mean: Tensor      # (B, N, 3)
    where_sd: Tensor        # (B, N, 3)
    z_what: Tensor          # (B, N, Z)
    what_mean: Tensor       # (B, N, Z)
    what_sd: Tensor         # (B, N, Z)
    baseline: Tensor        # (B, N) learned part of the baseline b(x, z^{1:i-1})
    partial: Tensor         # (B, N, H, W) reconstruction from steps 1..i-1 (DAIR's x^i)
    reconstruction: Tensor  # (B, H, W) mean of p(x | z)


class Inference(NamedTuple):
    """The public result of :meth:`AIR.infer`."""
    count: Tensor           # (B,) int64
    z_pres: Tensor          # (B, N)
    z_where: Tensor         # (B, N, 3): scale, x, y
    z_what: Tensor          # (B, N, Z)
    reconstruction: Tensor  # (B, H, W)


class AIR(nn.Module):
    """AIR, or DAIR when ``config.difference``; see the module docstring for the model."""

    def __init__(self, config: AIRConfig = AIRConfig()):
        super().__init__()
        if config.presence_estimator not in PRESENCE_ESTIMATORS:
            raise ValueError(f"unknown presence_estimator {config.presence_estimator!r}: expected one of "
                             f"{', '.join(PRESENCE_ESTIMATORS)}")
        if not (config.memory or config.difference):
            raise ValueError("memory=False needs difference=True: without memory every AIR step reads the same "
                             "image and would make the same decision")
        if not config.concrete_temperature > 0:
            raise ValueError(f"concrete_temperature must be positive, got {config.concrete_temperature}")
        self.config = cfg = config
        n_pix, n_win = cfg.image_size ** 2, cfg.window ** 2
        self.embed = ImageEmbedding(n_pix, cfg.embed)
        self.core = Core(cfg.embed, 3 + cfg.z_what + 1, cfg.lstm)
        self.head = StepHead(cfg.lstm, (cfg.init_scale, 0.0, 0.0), cfg.init_where_sd, cfg.init_pres_logit)
        self.encoder = Encoder(n_win, cfg.hidden, cfg.z_what)
        self.decoder = Decoder(cfg.z_what, cfg.hidden, n_win, cfg.decoder_bias)
        # NVIL's b(x, z^{1:i-1}) of the (detached) image features and LSTM state h^i
        self.baseline = est.BaselineMLP(cfg.embed + cfg.lstm, cfg.hidden, activation=nn.ReLU)

    def initial_state(self, images: Tensor) -> State:
        b, cfg = images.shape[0], self.config
        zeros = images.new_zeros
        return State(zeros(b, cfg.lstm), zeros(b, cfg.lstm), zeros(b, 3 + cfg.z_what + 1), images.new_ones(b),
                     zeros(images.shape))

    def forward(self, images: Tensor, sample: bool = True, generator: torch.Generator | None = None,
                relaxed: bool = False) -> Trace:
        """Runs the inference network for ``N`` steps, Eq. (2), and renders the reconstruction.

        Args:
            images: (B, H, W) float in [0, 1].
            sample: draw from q (training) or take its mode: means, and ``z_pres^i = 1`` iff
                ``q(z_pres^i = 1) > 1/2`` (evaluation).
            generator: the random stream of the samples, for reproducible training.
            relaxed: with ``sample``, draw each step's presence from its binary Concrete relaxation
                (``estimators.relaxed_presence``): ``z_pres^i = z_pres^{i-1} y^i`` in (0, 1), which scales
                step i's object on the canvas.

        Returns:
            A :class:`Trace`.
        """
        cfg, b = self.config, images.shape[0]
        state = self.initial_state(images)
        if not cfg.difference:                                           # the same at every step of AIR
            features = self.embed(images.flatten(1))                     # (B, embed)
            image_proj = self.core.project_image(features)               # (B, 4 * lstm)
        steps = []
        for _ in range(cfg.max_steps):
            if cfg.difference:                                           # DAIR reads x^i - x
                features = self.embed((state.canvas - images).flatten(1))
                image_proj = self.core.project_image(features)
            if cfg.memory:
                h, c = self.core(image_proj, state.z_prev, state.h, state.c)
            else:                                                        # a feed-forward cell of x^i - x
                h, c = self.core(image_proj, torch.zeros_like(state.z_prev), torch.zeros_like(state.h),
                                 torch.zeros_like(state.c))
            pres_logit, where_mean, where_sd = self.head(h)             # (B,), (B, 3), (B, 3)
            z_where = est.normal_rsample(where_mean, where_sd, generator) if sample else where_mean
            z_where = _clamp_zoom(z_where)
            x_att = spatial.attend(images, z_where, cfg.window)         # (B, 28, 28)
            what_mean, what_sd = self.encoder(x_att.flatten(1))         # (B, Z) each
            z_what = est.normal_rsample(what_mean, what_sd, generator) if sample else what_mean
            if sample and relaxed:                                       # (B,) in (0, 1), decreasing in i
                y = est.relaxed_presence(pres_logit[:, None], cfg.concrete_temperature, generator=generator)
                z_pres = state.z_pres * y[:, 0]
            elif sample:                                                 # (B,) 0 after the first 0
                z_pres = est.sample_presence_step(state.z_pres, logits=pres_logit, generator=generator)
            else:                                                        # the mode: q(z_pres^i = 1) > 1/2
                z_pres = state.z_pres * (pres_logit > 0).to(images.dtype)
            patch = self.decoder(z_what).view(b, cfg.window, cfg.window)  # y_att^i
            canvas = state.canvas + z_pres[:, None, None] * spatial.place(patch, z_where, cfg.image_size)
            baseline = self.baseline(torch.cat([features.detach(), h.detach()], -1))   # (B,)
            steps.append((z_pres, pres_logit, z_where, where_mean, where_sd, z_what, what_mean, what_sd,
                          baseline, state.canvas))
            state = State(h, c, torch.cat([z_where, z_what, z_pres[:, None]], -1), z_pres, canvas)
        (z_pres, pres_logit, z_where, where_mean, where_sd, z_what, what_mean, what_sd, baseline,
         partial) = (torch.stack(t, 1) for t in zip(*steps))
        return Trace(z_pres, est.step_mask(z_pres), pres_logit, z_where, where_mean, where_sd, z_what,
                     what_mean, what_sd, baseline, partial, reconstruction=state.canvas)

    def loss(self, images: Tensor, pres_prior: float, generator: torch.Generator | None = None
             ) -> tuple[Tensor, dict]:
        """The loss whose gradient is minus the AIR gradient estimate, Eqs. (4)-(7), plus the
        baseline's regression loss (``estimators.elbo_surrogate``).

        One sample ``(z, n) ~ q(. | x)`` per image. ``z_what`` and ``z_where`` take the pathwise
        estimator, Eq. (6), through the analytic KLs of :meth:`elbo_terms`. Each ``z_pres^i`` takes
        the likelihood-ratio estimator, Eq. (7), with the local learning signal minus the baseline
        ``stop_value + b(x, z^{1:i-1})``: the exact value of stopping at step ``i`` plus NVIL's
        input-dependent network, regressed onto the signal. The presence terms are passed as
        ``discrete_terms``, so the pathwise part leaves out the direct gradient of ``-log q(z_pres)``
        (zero in expectation).

        Args:
            images: (B, H, W) float in [0, 1] (or uint8).
            pres_prior: rho, the prior's per-step presence probability (annealed by the training loop).
            generator: the random stream of the samples.

        Returns:
            ``(loss, info)``: a scalar to minimise, and ``info`` with ``elbo`` (B,) the sampled
            ELBO ``l`` of Eq. (5), ``z_pres`` (B, N), both detached, and the ``trace``.
        """
        images = self.check_images(images)
        if self.config.presence_estimator == "concrete":
            trace = self(images, sample=True, generator=generator, relaxed=True)
            objective = self.relaxed_objective(trace, images, pres_prior)
            hard = est.object_mask((trace.z_pres > 0.5).to(images.dtype))
            return -objective.mean(), dict(elbo=objective.detach(), z_pres=hard, trace=trace)
        trace = self(images, sample=True, generator=generator)
        t = self.elbo_terms(trace, images, pres_prior)
        baseline = self.stop_value(trace, images, pres_prior).detach() + trace.baseline   # (B, N)
        s = est.elbo_surrogate(t["loglik"], -t["kl"], t["log_q_pres"], trace.active, baseline,
                               discrete_terms=t["pres"])
        return s.loss, dict(elbo=t["elbo"].detach(), z_pres=trace.z_pres.detach(), trace=trace)

    # ------------------------------------------------------------------ the objective, Eq. (3)

    def elbo_terms(self, trace: Trace, images: Tensor, pres_prior: float | None = None) -> dict[str, Tensor]:
        """The terms of ``l = log p(x, z, n) - log q(z, n | x)`` of Eq. (5), per image and step.

        The Gaussian ``z_what`` and ``z_where`` enter through their analytic KL divergences (lower
        variance than sampled log densities); ``z_pres`` enters through the sampled log ratio.

        Args:
            trace: from :meth:`forward` with ``sample=True``.
            images: (B, H, W).
            pres_prior: rho; defaults to ``config.pres_prior``.

        Returns:
            ``loglik`` (B,) ``log p(x | z)``; ``kl`` (B, N) ``z_pres^i (KL_what^i + KL_where^i)``;
            ``pres`` (B, N) ``log p(z_pres^i) - log q(z_pres^i)`` on active steps; ``log_q_pres``
            (B, N) ``log q(z_pres^i)`` on active steps, differentiable in the logits; ``elbo`` (B,).
        """
        cfg = self.config
        loglik = est.normal_log_prob(images, trace.reconstruction, cfg.likelihood_sd).flatten(1).sum(1)
        p_mean, p_sd = self._where_prior(trace.z_where)
        kl_where = est.normal_kl(trace.where_mean, trace.where_sd, p_mean, p_sd).sum(-1)    # (B, N)
        kl_what = est.normal_kl(trace.what_mean, trace.what_sd, 0.0, 1.0).sum(-1)         # (B, N)
        kl = est.object_mask(trace.z_pres) * (kl_what + kl_where)
        log_q = self.pres_log_q(trace)
        pres = est.presence_log_prob(trace.z_pres, probs=self._rho(pres_prior)) - log_q
        return dict(loglik=loglik, kl=kl, pres=pres, log_q_pres=log_q, elbo=loglik - kl.sum(1) + pres.sum(1))

    def relaxed_objective(self, trace: Trace, images: Tensor, pres_prior: float | None = None) -> Tensor:
        """The objective the Concrete estimator ascends (beyond the paper): (B,).

        With relaxed ``z_pres^i = prod_{j <= i} y^j`` (``forward(relaxed=True)``), each step weighted by the
        presence of the steps before it, ``r^i = z_pres^{i-1}`` (1 at i = 1)::

            log p(x | z) - sum_i z_pres^i (KL_what^i + KL_where^i) - sum_i r^i KL(Bern(q^i) || Bern(rho))

        with ``q^i = q(z_pres^i = 1 | x, z^{1:i-1})``. For binary ``z_pres`` it is Eq. (5)'s ``l`` with each
        step's presence term replaced by its expectation, so it is a lower bound in expectation; every term is
        differentiable, so the gradient is pathwise (no score function, no baseline).
        """
        cfg = self.config
        loglik = est.normal_log_prob(images, trace.reconstruction, cfg.likelihood_sd).flatten(1).sum(1)
        p_mean, p_sd = self._where_prior(trace.z_where)
        kl_where = est.normal_kl(trace.where_mean, trace.where_sd, p_mean, p_sd).sum(-1)    # (B, N)
        kl_what = est.normal_kl(trace.what_mean, trace.what_sd, 0.0, 1.0).sum(-1)         # (B, N)
        runs = torch.cat([torch.ones_like(trace.z_pres[:, :1]), trace.z_pres[:, :-1]], 1)  # (B, N) r^i
        rho, logit = self._rho(pres_prior), trace.pres_logit
        q = torch.sigmoid(logit)                                                         # log q = -softplus(-l)
        kl_pres = q * (-F.softplus(-logit) - math.log(rho)) + (1 - q) * (-F.softplus(logit) - math.log1p(-rho))
        return loglik - (trace.z_pres * (kl_what + kl_where)).sum(1) - (runs * kl_pres).sum(1)

    def stop_value(self, trace: Trace, images: Tensor, pres_prior: float | None = None) -> Tensor:
        """The exact learning signal of stopping at step ``i``: (B, N).

        If ``z_pres^i = 0`` every later step is absent too, so the terms of ``l`` that ``z_pres^i`` can
        influence are known without sampling: ``log p(x | z^{1:i-1}) + log p(z_pres^i = 0) -
        log q(z_pres^i = 0)``. Used as the baseline of step ``i``, it makes the score-function term
        vanish whenever the sample stops and equal ``value(continue) - value(stop)`` otherwise.
        """
        loglik = est.normal_log_prob(images[:, None], trace.partial, self.config.likelihood_sd)
        loglik = loglik.flatten(2).sum(2)                                              # (B, N)
        # log p(z_pres^i = 0) = log(1 - rho);  -log q(z_pres^i = 0) = softplus(logit)
        return loglik + math.log1p(-self._rho(pres_prior)) + F.softplus(trace.pres_logit)

    def prefix_loglik(self, trace: Trace, images: Tensor) -> Tensor:
        """How well each proper prefix of the sequence explains the image: (B, N - 1).

        Column ``i - 1`` is ``log p(x | z^{1:i})``, the likelihood of the canvas that steps ``1..i`` drew,
        for ``i = 1 .. N - 1`` (the full sequence's term is ``elbo_terms``' ``loglik``). Pathwise in
        ``z_what`` and ``z_where``; the training warm-up (``experiments.multi_mnist``) rewards it so that
        the first steps learn to explain whole objects before the presence prior makes them costly.
        """
        partial = trace.partial[:, 1:]                                   # (B, N - 1, H, W)
        return est.normal_log_prob(images[:, None], partial, self.config.likelihood_sd).flatten(2).sum(2)

    @staticmethod
    def pres_log_q(trace: Trace) -> Tensor:
        """log q(z_pres^i | x, z^{1:i-1}): (B, N), zero after the first absent step,
        differentiable in the logits (``estimators.presence_log_prob``)."""
        return est.presence_log_prob(trace.z_pres, logits=trace.pres_logit)

    def log_weight(self, trace: Trace, images: Tensor, pres_prior: float | None = None) -> Tensor:
        """The importance weight ``log p(x, z, n) - log q(z, n | x)`` of one sample, with every term
        sampled (no analytic KL), for the IWAE bound: (B,)."""
        cfg = self.config
        loglik = est.normal_log_prob(images, trace.reconstruction, cfg.likelihood_sd).flatten(1).sum(1)
        p_mean, p_sd = self._where_prior(trace.z_where)
        lw_where = (est.normal_log_prob(trace.z_where, p_mean, p_sd)
                    - est.normal_log_prob(trace.z_where, trace.where_mean, trace.where_sd)).sum(-1)
        lw_what = (est.normal_log_prob(trace.z_what, 0.0, 1.0)
                   - est.normal_log_prob(trace.z_what, trace.what_mean, trace.what_sd)).sum(-1)
        pres = est.presence_log_prob(trace.z_pres, probs=self._rho(pres_prior)) - self.pres_log_q(trace)
        return loglik + (est.object_mask(trace.z_pres) * (lw_where + lw_what)).sum(1) + pres.sum(1)

    @torch.no_grad()
    def log_weights(self, images: Tensor, k: int, generator: torch.Generator | None = None,
                    pres_prior: float | None = None) -> Tensor:
        """``k`` importance log-weights per image (B, K), for ``estimators.iwae_bound``."""
        images = self.check_images(images)
        b = images.shape[0]
        rep = images.repeat_interleave(k, 0)                              # (B*K, H, W)
        trace = self.forward(rep, sample=True, generator=generator)
        return self.log_weight(trace, rep, pres_prior).view(b, k)

    def _rho(self, pres_prior) -> float:
        return float(self.config.pres_prior if pres_prior is None else pres_prior)

    def _where_prior(self, like: Tensor) -> tuple[Tensor, Tensor]:
        cfg = self.config
        mean = like.new_tensor([cfg.scale_prior[0], 0.0, 0.0])
        sd = like.new_tensor([cfg.scale_prior[1], cfg.shift_prior_sd, cfg.shift_prior_sd])
        return mean, sd

    # ------------------------------------------------------------------ public inference

    @torch.no_grad()
    def infer(self, images: Tensor | np.ndarray, chunk: int = 1000, threads: int | None = None) -> Inference:
        """Deterministic scene inference: the count, the posterior means and the reconstruction.

        Args:
            images: (B, 50, 50) tensor or numpy array, float in [0, 1] or uint8 in [0, 255]; B = 0 gives
                empty results.
            chunk: images per forward pass. The pass keeps every step's partial canvas, about
                ``(N + 3) * H * W * 4`` bytes per image (80 KB at 50x50), so chunks bound the memory.
            threads: torch CPU threads for this call (restored afterwards). Default: one thread for
                fewer than 256 images, torch's setting otherwise. Small batches are a few small matrix
                products: on a busy machine, extra threads wait for cores and make the tail latency
                hundreds of times worse (``benchmarks/infer_threads.py``).

        Returns:
            An :class:`Inference`: ``count`` (B,) int64, ``z_pres`` (B, N), ``z_where`` (B, N, 3),
            ``z_what`` (B, N, Z), ``reconstruction`` (B, 50, 50).

        Raises:
            TypeError, ValueError: for input that is not such a tensor or array, or a chunk that is not
                a positive integer.
        """
        est.check_num_samples(chunk, 1, "chunk")
        images = self.check_images(images)
        before = torch.get_num_threads()
        wanted = threads if threads is not None else (1 if len(images) < 256 else before)
        est.check_num_samples(wanted, 1, "threads")
        parts = []
        try:
            if wanted != before:
                torch.set_num_threads(wanted)
            for part in images.split(chunk):                             # one empty part if B = 0
                trace = self(part, sample=False)
                parts.append((trace.z_pres, trace.z_where, trace.z_what, trace.reconstruction))
        finally:
            if torch.get_num_threads() != before:
                torch.set_num_threads(before)
        z_pres, z_where, z_what, reconstruction = (torch.cat(t) for t in zip(*parts))
        return Inference(z_pres.sum(1).long(), z_pres, z_where, z_what, reconstruction)

    def check_images(self, images) -> Tensor:
        """Validates a batch of images and returns it in [0, 1], in the model's dtype and on its device."""
        return image_batch(images, self.config.image_size, next(self.parameters()))

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None, pres_prior: float | None = None) -> Tensor:
        """Samples ``n`` images' means from the generative model (Fig. 2, left): (n, H, W)."""
        cfg = self.config
        dev = next(self.parameters()).device
        canvas, pres = torch.zeros(n, cfg.image_size, cfg.image_size, device=dev), torch.ones(n, device=dev)
        rho = torch.full((n,), self._rho(pres_prior), device=dev)
        mean, sd = (t.expand(n, 3) for t in self._where_prior(canvas))
        what_mean, what_sd = torch.zeros(n, cfg.z_what, device=dev), torch.ones(n, cfg.z_what, device=dev)
        for _ in range(cfg.max_steps):
            pres = est.sample_presence_step(pres, probs=rho, generator=generator)
            z_where = _clamp_zoom(est.normal_rsample(mean, sd, generator))
            z_what = est.normal_rsample(what_mean, what_sd, generator)
            patch = self.decoder(z_what).view(n, cfg.window, cfg.window)
            canvas += pres[:, None, None] * spatial.place(patch, z_where, cfg.image_size)
        return canvas


def _clamp_zoom(z_where: Tensor) -> Tensor:
    """Keeps the scale ``s >= MIN_ZOOM`` (a window at most twice the image): (B, 3) -> (B, 3)."""
    return torch.cat([z_where[:, :1].clamp(min=MIN_ZOOM), z_where[:, 1:]], -1)


def image_batch(images, size: int, like: Tensor) -> Tensor:
    """Validates a batch of square images (B, size, size), a tensor or numpy array, uint8 in [0, 255] or float
    in [0, 1], and returns it as floats in [0, 1] in ``like``'s dtype and on its device; a clear TypeError or
    ValueError otherwise."""
    if isinstance(images, np.ndarray):
        dtype = images.dtype
        if not (dtype.kind == "f" and dtype.itemsize in (2, 4, 8) or dtype.kind == "u" and dtype.itemsize == 1):
            raise TypeError(f"images must be float in [0, 1] or uint8, got numpy dtype {dtype}")
        images = images.astype(dtype.newbyteorder("="), copy=not images.flags.writeable)
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor or numpy array of shape (B, {size}, {size}), "
                        f"got {type(images).__name__}")
    if images.dim() != 3 or images.shape[1:] != (size, size):
        raise ValueError(f"images must have shape (B, {size}, {size}), got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.to(like.device, like.dtype) / 255.0
    if images.dtype.is_floating_point:
        if not torch.isfinite(images).all():
            raise ValueError("images contain NaN or infinite values")
        if images.numel() and (images.min() < 0 or images.max() > 1):
            raise ValueError(f"float images must lie in [0, 1], got values in "
                             f"[{images.min().item():.9g}, {images.max().item():.9g}]; "
                             "divide uint8 pixels by 255")
        return images.to(like.device, like.dtype)
    raise TypeError(f"images must be float in [0, 1] or uint8, got dtype {images.dtype}")
