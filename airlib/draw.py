"""DRAW (Gregor et al., 2015; the paper's ref. [6]): a recurrent VAE that draws an image in T steps.

The AIR paper's baseline for strong generalization (Fig. 6) and representational power (Fig. 7).
At every step t = 1..T (DRAW's Eqs. 3-8):

    x_hat_t = x - sigmoid(c_{t-1})                                   error image
    r_t     = read(x, x_hat_t, h^dec_{t-1})                          Gaussian filterbank glimpse
    h^enc_t = RNN^enc(h^enc_{t-1}, [r_t, h^dec_{t-1}])
    z_t     ~ Q(Z_t | h^enc_t) = N(mu_t, sigma_t)
    h^dec_t = RNN^dec(h^dec_{t-1}, z_t)
    c_t     = c_{t-1} + write(h^dec_t)                                canvas accumulation

and the image's mean is sigmoid(c_T). The loss is DRAW's (its Eq. 12): ``-log p(x | sigmoid(c_T)) +
sum_t KL(Q(Z_t | h^enc_t) || N(0, I))``. The likelihood here is AIR's (Gaussian, sd 0.3), not
DRAW's Bernoulli, so that the two models' bounds are in the same units and can be compared.

Attention (DRAW's Eqs. 19-26): ``(g~X, g~Y, log sigma^2, log delta~, log gamma) = W(h^dec)``;
the grid centre ``g_X = (A + 1)/2 (g~X + 1)`` (pixels counted from 1), stride
``delta = (max(A, B) - 1)/(N - 1) delta~``, filter centres ``mu^i_X = g_X + (i - N/2 - 0.5) delta``
and ``F_X[i, a] = exp(-(a - mu^i_X)^2 / (2 sigma^2)) / Z_X``, normalised over ``a``; likewise in Y.
``read = gamma [F_Y x F_X^T, F_Y x_hat F_X^T]`` and ``write = F_Y^T w F_X`` for a patch ``w`` (N x N)
emitted by the decoder. DRAW's write divides by a second intensity ``gamma``; it only rescales ``w``,
which the decoder already sets, and such a redundant scale can drift until training collapses, so the
write here has none.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import estimators as est
from .air import image_batch


@dataclass(frozen=True)
class DRAWConfig:
    """DRAW's architecture (sizes as in DRAW's MNIST experiments, 40 steps as in the AIR paper)."""
    image_size: int = 50
    steps: int = 40                  # T
    read_n: int = 5                  # read glimpse N x N per image (two images: x and x_hat)
    write_n: int = 5                 # write patch N x N
    enc: int = 256                   # encoder LSTM units
    dec: int = 256                   # decoder LSTM units
    z: int = 10                      # latent units per step (T * z = 400 in all)
    likelihood_sd: float = 0.3       # sigma_x, as AIR's
    canvas_bias: float = -2.0        # c_0 starts nearly empty (sigmoid(-2) = 0.12), as AIR's decoder bias


class Attention(NamedTuple):
    """One step's filterbanks: ``fx`` (B, N, A), ``fy`` (B, N, B_), ``gamma`` (B, 1, 1)."""
    fx: Tensor
    fy: Tensor
    gamma: Tensor


def filterbank(params: Tensor, n: int, height: int, width: int) -> Attention:
    """Gaussian filterbank matrices from the five attention parameters (DRAW's Eqs. 19-26).

    Args:
        params: (B, 5): g~X, g~Y, log sigma^2, log delta~, log gamma.
        n: filters per axis.

    Returns:
        An :class:`Attention`; each filter's row sums to 1 (computed as a softmax, so a filter far
        outside the image is still normalised rather than underflowing to 0/0).
    """
    gx_, gy_, log_var, log_delta, log_gamma = params.unbind(-1)          # (B,) each
    gx = (width + 1) / 2 * (gx_ + 1)                                     # pixel coordinates from 1
    gy = (height + 1) / 2 * (gy_ + 1)
    delta = (max(height, width) - 1) / (n - 1) * torch.exp(log_delta)
    offsets = torch.arange(1, n + 1, dtype=params.dtype, device=params.device) - n / 2 - 0.5   # (N,)
    mu_x = gx[:, None] + offsets * delta[:, None]                        # (B, N)
    mu_y = gy[:, None] + offsets * delta[:, None]
    var = torch.exp(log_var)[:, None, None]

    def bank(mu: Tensor, size: int) -> Tensor:                           # (B, N) -> (B, N, size)
        a = torch.arange(1, size + 1, dtype=params.dtype, device=params.device)
        return torch.softmax(-(a - mu[:, :, None]) ** 2 / (2 * var), -1)     # exp(.) / Z, without underflow

    return Attention(bank(mu_x, width), bank(mu_y, height), torch.exp(log_gamma)[:, None, None])


def read(images: Tensor, att: Attention) -> Tensor:
    """The glimpse ``gamma F_Y x F_X^T``: images (B, H, W) -> (B, N, N)."""
    return att.gamma * att.fy @ images @ att.fx.transpose(1, 2)


def write(patch: Tensor, att: Attention) -> Tensor:
    """The canvas update ``F_Y^T w F_X``: patch (B, N, N) -> (B, H, W) (no ``1 / gamma``: see the module docstring)."""
    return att.fy.transpose(1, 2) @ patch @ att.fx


class Trace(NamedTuple):
    """One pass of DRAW over a batch."""
    canvas: Tensor          # (B, H, W): c_T (logits); the image's mean is sigmoid(c_T)
    mean: Tensor            # (B, T, z): mu_t
    sd: Tensor              # (B, T, z): sigma_t
    z: Tensor               # (B, T, z): the latents used (samples, or the means when sample=False)
    canvases: Tensor | None  # (B, T, H, W): sigmoid(c_t) after each step, when asked for


class DRAW(nn.Module):
    """The DRAW network: encoder and decoder LSTMs with read and write attention."""

    def __init__(self, config: DRAWConfig = DRAWConfig()):
        super().__init__()
        self.config = c = config
        self.encoder = nn.LSTMCell(2 * c.read_n ** 2 + c.dec, c.enc)     # [r_t, h^dec_{t-1}] -> h^enc_t
        self.posterior = nn.Linear(c.enc, 2 * c.z)                       # h^enc_t -> mu_t, sigma_t
        self.decoder = nn.LSTMCell(c.z, c.dec)                           # z_t -> h^dec_t
        self.read_params = nn.Linear(c.dec, 5)                           # h^dec_{t-1} -> read attention
        self.write_params = nn.Linear(c.dec, 5)                          # h^dec_t -> write attention
        self.write_patch = nn.Linear(c.dec, c.write_n ** 2)              # h^dec_t -> w_t
        self.canvas0 = nn.Parameter(torch.tensor(c.canvas_bias))         # c_0: a learned, nearly empty canvas

    def forward(self, images: Tensor, sample: bool = True, generator: torch.Generator | None = None,
                keep_canvases: bool = False) -> Trace:
        """Runs the T steps on images (B, H, W) in [0, 1]; ``sample=False`` uses the posterior means."""
        c = self.config
        b, size = images.shape[0], c.image_size
        h_enc, c_enc = images.new_zeros(b, c.enc), images.new_zeros(b, c.enc)
        h_dec, c_dec = images.new_zeros(b, c.dec), images.new_zeros(b, c.dec)
        canvas = self.canvas0.expand(b, size, size)
        means, sds, zs, canvases = [], [], [], []
        for _ in range(c.steps):
            error = images - torch.sigmoid(canvas)                        # x_hat_t
            att = filterbank(self.read_params(h_dec), c.read_n, size, size)
            r = torch.cat([read(images, att), read(error, att)], 1).flatten(1)   # (B, 2 N^2)
            h_enc, c_enc = self.encoder(torch.cat([r, h_dec], -1), (h_enc, c_enc))
            mean, raw_sd = self.posterior(h_enc).chunk(2, -1)
            sd = F.softplus(raw_sd) + 1e-4
            z = est.normal_rsample(mean, sd, generator) if sample else mean
            h_dec, c_dec = self.decoder(z, (h_dec, c_dec))
            att_w = filterbank(self.write_params(h_dec), c.write_n, size, size)
            canvas = canvas + write(self.write_patch(h_dec).view(b, c.write_n, c.write_n), att_w)
            means.append(mean), sds.append(sd), zs.append(z)
            if keep_canvases:
                canvases.append(torch.sigmoid(canvas))
        return Trace(canvas, torch.stack(means, 1), torch.stack(sds, 1), torch.stack(zs, 1),
                     torch.stack(canvases, 1) if keep_canvases else None)

    def elbo_terms(self, trace: Trace, images: Tensor) -> dict[str, Tensor]:
        """``loglik`` (B,) ``log p(x | sigmoid(c_T))``, ``kl`` (B, T) per step, ``elbo`` (B,) = loglik - sum kl."""
        loglik = est.normal_log_prob(images, torch.sigmoid(trace.canvas), self.config.likelihood_sd).flatten(1).sum(1)
        kl = est.normal_kl(trace.mean, trace.sd, 0.0, 1.0).sum(-1)
        return dict(loglik=loglik, kl=kl, elbo=loglik - kl.sum(1))

    def loss(self, images: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, dict]:
        """The negative ELBO averaged over the batch (all latents reparameterised), and its terms."""
        terms = self.elbo_terms(self(images, sample=True, generator=generator), images)
        return -terms["elbo"].mean(), terms

    def check_images(self, images) -> Tensor:
        return image_batch(images, self.config.image_size, next(self.parameters()))

    @torch.no_grad()
    def encode(self, images, chunk: int = 1000) -> Tensor:
        """DRAW's representation of images (B, H, W): the posterior means of every step, (B, T, z)."""
        images = self.check_images(images)
        return torch.cat([self(part, sample=False).mean for part in images.split(chunk)]) if len(images) else \
            images.new_zeros(0, self.config.steps, self.config.z)

    @torch.no_grad()
    def reconstruct(self, images, keep_canvases: bool = False) -> Trace:
        """The deterministic pass (posterior means) over images, for figures."""
        return self(self.check_images(images), sample=False, keep_canvases=keep_canvases)
