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
latents; it outputs ``q(z_pres^i)`` and ``q(z_where^i)``; the attended window ``x_att^i`` is encoded into
``q(z_what^i)``. All ``N`` steps are computed for the whole batch and steps after the first
``z_pres = 0`` are masked, which keeps the batch dense.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import spatial
from .networks import Baseline, Core, Decoder, Encoder, ImageEmbedding, StepHead


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
        self.config = cfg = config
        n_pix, n_win = cfg.image_size ** 2, cfg.window ** 2
        self.embed = ImageEmbedding(n_pix, cfg.embed)
        self.core = Core(cfg.embed, 3 + cfg.z_what + 1, cfg.lstm)
        self.head = StepHead(cfg.lstm, (cfg.init_scale, 0.0, 0.0), cfg.init_where_sd, cfg.init_pres_logit)
        self.encoder = Encoder(n_win, cfg.hidden, cfg.z_what)
        self.decoder = Decoder(cfg.z_what, cfg.hidden, n_win, cfg.decoder_bias)
        self.baseline = Baseline(cfg.embed, cfg.lstm, cfg.hidden)

    def initial_state(self, images: Tensor) -> State:
        b, cfg = images.shape[0], self.config
        zeros = images.new_zeros
        return State(zeros(b, cfg.lstm), zeros(b, cfg.lstm), zeros(b, 3 + cfg.z_what + 1), images.new_ones(b),
                     zeros(images.shape))

    def forward(self, images: Tensor, sample: bool = True, generator: torch.Generator | None = None) -> Trace:
        """Runs the inference network for ``N`` steps, Eq. (2), and renders the reconstruction.

        Args:
            images: (B, H, W) float in [0, 1].
            sample: draw from q (training) or take its mode: means, and ``z_pres^i = 1`` iff
                ``q(z_pres^i = 1) > 1/2`` (evaluation).
            generator: the random stream of the samples, for reproducible training.

        Returns:
            A :class:`Trace`.
        """
        cfg, b = self.config, images.shape[0]
        flat = images.reshape(b, -1)                                     # (B, H*W)
        state = self.initial_state(images)
        if not cfg.difference:                                           # the same at every step of AIR
            features = self.embed(flat)                                  # (B, embed)
            image_proj = self.core.project_image(features)               # (B, 4 * lstm)
        steps = []
        for _ in range(cfg.max_steps):
            if cfg.difference:                                           # DAIR reads x^i - x
                features = self.embed((state.canvas - images).reshape(b, -1))
                image_proj = self.core.project_image(features)
            h, c = self.core(image_proj, state.z_prev, state.h, state.c)
            pres_logit, where_mean, where_sd = self.head(h)             # (B,), (B, 3), (B, 3)
            z_where = _gaussian(where_mean, where_sd, sample, generator)
            z_where = torch.cat([z_where[:, :1].clamp(min=0.5), z_where[:, 1:]], -1)  # window <= 2x image
            x_att = spatial.attend(images, z_where, cfg.window)         # (B, 28, 28)
            what_mean, what_sd = self.encoder(x_att.reshape(b, -1))     # (B, Z) each
            z_what = _gaussian(what_mean, what_sd, sample, generator)
            if sample:
                u = torch.rand(pres_logit.shape, generator=generator, device=images.device)
                found = (u < torch.sigmoid(pres_logit)).to(images.dtype)
            else:
                found = (pres_logit > 0).to(images.dtype)
            z_pres = state.z_pres * found                                # (B,) masked after the first 0
            patch = self.decoder(z_what).view(b, cfg.window, cfg.window)  # y_att^i
            canvas = state.canvas + z_pres[:, None, None] * spatial.place(patch, z_where, cfg.image_size)
            baseline = self.baseline(features, h)
            steps.append((z_pres, state.z_pres, pres_logit, z_where, where_mean, where_sd, z_what,
                          what_mean, what_sd, baseline, state.canvas))
            state = State(h, c, torch.cat([z_where, z_what, z_pres[:, None]], -1), z_pres, canvas)
        stacked = [torch.stack(t, 1) for t in zip(*steps)]
        return Trace(*stacked, reconstruction=state.canvas)

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
            ``pres`` (B, N) ``log p(z_pres^i) - log q(z_pres^i)`` on active steps; ``elbo`` (B,).
        """
        cfg = self.config
        rho = cfg.pres_prior if pres_prior is None else pres_prior
        loglik = _normal_logpdf(images, trace.reconstruction, cfg.likelihood_sd).flatten(1).sum(1)
        p_mean, p_sd = self._where_prior(trace.z_where)
        kl_where = _kl_normal(trace.where_mean, trace.where_sd, p_mean, p_sd).sum(-1)        # (B, N)
        kl_what = _kl_normal(trace.what_mean, trace.what_sd, 0.0, 1.0).sum(-1)             # (B, N)
        kl = trace.z_pres * (kl_what + kl_where)
        pres = trace.active * (self.pres_log_prior(trace.z_pres, rho) - self.pres_log_q(trace))
        return dict(loglik=loglik, kl=kl, pres=pres, elbo=loglik - kl.sum(1) + pres.sum(1))

    def stop_value(self, trace: Trace, images: Tensor, pres_prior: float | None = None) -> Tensor:
        """The exact learning signal of stopping at step ``i``: (B, N).

        If ``z_pres^i = 0`` every later step is absent too, so the terms of ``l`` that ``z_pres^i`` can
        influence are known without sampling: ``log p(x | z^{1:i-1}) + log p(z_pres^i = 0) -
        log q(z_pres^i = 0)``. Used as the baseline of step ``i``, it makes the score-function term
        vanish whenever the sample stops and equal ``value(continue) - value(stop)`` otherwise.
        """
        cfg = self.config
        rho = cfg.pres_prior if pres_prior is None else pres_prior
        loglik = _normal_logpdf(images[:, None], trace.partial, cfg.likelihood_sd).flatten(2).sum(2)   # (B, N)
        return loglik + math.log1p(-rho) + F.softplus(trace.pres_logit)    # -log q(0) = softplus(logit)

    @staticmethod
    def pres_log_prior(z_pres: Tensor, rho: float) -> Tensor:
        """log p(z_pres^i | z_pres^{i-1} = 1) of the geometric prior: (B, N)."""
        return z_pres * math.log(rho) + (1 - z_pres) * math.log1p(-rho)

    @staticmethod
    def pres_log_q(trace: Trace) -> Tensor:
        """log q(z_pres^i | x, z^{1:i-1}): (B, N), differentiable in the logits."""
        return -F.binary_cross_entropy_with_logits(trace.pres_logit, trace.z_pres, reduction="none")

    def log_weight(self, trace: Trace, images: Tensor, pres_prior: float | None = None) -> Tensor:
        """The importance weight ``log p(x, z, n) - log q(z, n | x)`` of one sample, with every term
        sampled (no analytic KL), for the IWAE bound: (B,)."""
        cfg = self.config
        rho = cfg.pres_prior if pres_prior is None else pres_prior
        loglik = _normal_logpdf(images, trace.reconstruction, cfg.likelihood_sd).flatten(1).sum(1)
        p_mean, p_sd = self._where_prior(trace.z_where)
        lw_where = (_normal_logpdf(trace.z_where, p_mean, p_sd)
                    - _normal_logpdf(trace.z_where, trace.where_mean, trace.where_sd)).sum(-1)
        lw_what = (_normal_logpdf(trace.z_what, 0.0, 1.0)
                   - _normal_logpdf(trace.z_what, trace.what_mean, trace.what_sd)).sum(-1)
        pres = trace.active * (self.pres_log_prior(trace.z_pres, rho) - self.pres_log_q(trace))
        return loglik + (trace.z_pres * (lw_where + lw_what)).sum(1) + pres.sum(1)

    @torch.no_grad()
    def log_weights(self, images: Tensor, k: int, generator: torch.Generator | None = None,
                    pres_prior: float | None = None) -> Tensor:
        """``k`` importance log-weights per image (B, K), for ``estimators.iwae_bound``."""
        images = self.check_images(images)
        b = images.shape[0]
        rep = images.repeat_interleave(k, 0)                              # (B*K, H, W)
        trace = self.forward(rep, sample=True, generator=generator)
        return self.log_weight(trace, rep, pres_prior).view(b, k)

    def _where_prior(self, like: Tensor) -> tuple[Tensor, Tensor]:
        cfg = self.config
        mean = like.new_tensor([cfg.scale_prior[0], 0.0, 0.0])
        sd = like.new_tensor([cfg.scale_prior[1], cfg.shift_prior_sd, cfg.shift_prior_sd])
        return mean, sd

    # ------------------------------------------------------------------ public inference

    @torch.no_grad()
    def infer(self, images: Tensor) -> Inference:
        """Deterministic scene inference: the count, the posterior means and the reconstruction.

        Args:
            images: (B, 50, 50), float in [0, 1] or uint8 in [0, 255].

        Returns:
            An :class:`Inference`: ``count`` (B,) int64, ``z_pres`` (B, N), ``z_where`` (B, N, 3),
            ``z_what`` (B, N, Z), ``reconstruction`` (B, 50, 50).

        Raises:
            TypeError, ValueError: for input that is not such a tensor.
        """
        images = self.check_images(images)
        trace = self.forward(images, sample=False)
        return Inference(trace.z_pres.sum(1).long(), trace.z_pres, trace.z_where, trace.z_what,
                         trace.reconstruction)

    def check_images(self, images) -> Tensor:
        """Validates a batch of images and returns it as float in [0, 1] on the model's device."""
        size = self.config.image_size
        if not isinstance(images, torch.Tensor):
            raise TypeError(f"images must be a torch.Tensor of shape (B, {size}, {size}), got {type(images).__name__}")
        if images.dim() != 3 or images.shape[1:] != (size, size):
            raise ValueError(f"images must have shape (B, {size}, {size}), got {tuple(images.shape)}")
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        elif images.dtype.is_floating_point:
            if not torch.isfinite(images).all():
                raise ValueError("images contain NaN or infinite values")
            if images.numel() and (images.min() < 0 or images.max() > 1):
                raise ValueError(f"float images must lie in [0, 1], got values in "
                                 f"[{images.min().item():.3g}, {images.max().item():.3g}]; divide uint8 pixels by 255")
            images = images.float()
        else:
            raise TypeError(f"images must be float in [0, 1] or uint8, got dtype {images.dtype}")
        return images.to(next(self.parameters()).device)

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None, pres_prior: float | None = None) -> Tensor:
        """Samples ``n`` images' means from the generative model (Fig. 2, left): (n, H, W)."""
        cfg = self.config
        rho = cfg.pres_prior if pres_prior is None else pres_prior
        dev = next(self.parameters()).device
        canvas, pres = torch.zeros(n, cfg.image_size, cfg.image_size, device=dev), torch.ones(n, device=dev)
        mean, sd = self._where_prior(canvas)
        for _ in range(cfg.max_steps):
            pres = pres * (torch.rand(n, generator=generator, device=dev) < rho).float()
            z_where = mean + sd * torch.randn(n, 3, generator=generator, device=dev)
            z_where[:, 0].clamp_(min=0.5)
            z_what = torch.randn(n, cfg.z_what, generator=generator, device=dev)
            patch = self.decoder(z_what).view(n, cfg.window, cfg.window)
            canvas += pres[:, None, None] * spatial.place(patch, z_where, cfg.image_size)
        return canvas


def _gaussian(mean: Tensor, sd: Tensor, sample: bool, generator) -> Tensor:
    if not sample:
        return mean
    return mean + sd * torch.randn(mean.shape, generator=generator, device=mean.device)


def _normal_logpdf(x, mean, sd):
    sd = torch.as_tensor(sd, dtype=x.dtype, device=x.device)
    return -0.5 * ((x - mean) / sd) ** 2 - torch.log(sd) - 0.5 * math.log(2 * math.pi)


def _kl_normal(mq, sq, mp, sp):
    """KL(N(mq, sq^2) || N(mp, sp^2)), elementwise."""
    sp = torch.as_tensor(sp, dtype=mq.dtype, device=mq.device)
    return torch.log(sp / sq) + (sq ** 2 + (mq - mp) ** 2) / (2 * sp ** 2) - 0.5
