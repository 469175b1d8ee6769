"""The likelihood of an observed image under a rendered one (Sec. III-B, "Model").

The paper evaluates p(x | z) in three steps: (1) render the scene description z to an image y,
(2) blur y and the observation x with a fixed-width kernel, (3) compute N(x | y, I sigma_x^2).
The blur widens the basin of the likelihood: a rendered object that misses the observed one by a
few pixels still overlaps it after blurring, so the gradient with respect to the pose points
towards it. Also here: the check every observed image passes (:func:`check_images`) and the schedule
that brings the narrower levels in during training (:func:`level_weights`).
"""
from __future__ import annotations

import functools
import math
from numbers import Integral, Real

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalised 1D Gaussian kernel of standard deviation ``sigma`` pixels, radius 3 sigma.

    Returns:
        float32 tensor (2 * ceil(3 sigma) + 1,).

    Raises:
        ValueError: for a sigma that is not a positive finite number.
    """
    if not (isinstance(sigma, Real) and 0 < sigma < math.inf):
        raise ValueError(f"sigma of a Gaussian kernel must be a positive finite number of pixels, "
                         f"got {sigma!r}")
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


@functools.lru_cache(maxsize=64)
def blur_matrix(n: int, sigma: float, stride: int = 1) -> torch.Tensor:
    """The 1D blur of a length-``n`` signal as a matrix: ``signal @ M`` is the signal convolved with
    :func:`gaussian_kernel`, its borders replicated, keeping every ``stride``-th value.

    A replicated border pixel's share of the kernel is folded into the edge's row, so the matrix is
    exact. Multiplying by it is a dense matrix product, which BLAS runs tens of times faster on the
    CPU than the equivalent depthwise convolution (the likelihood was half of a training step).

    Returns:
        float32 tensor (n, ceil(n / stride)), cached; callers must not modify it.

    Raises:
        ValueError: for a length that is not a positive integer, or a bad sigma or stride (see :func:`blur`).
    """
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise ValueError(f"blur_matrix needs a signal length >= 1, got {n!r}")
    _check_blur(sigma, stride)
    k = gaussian_kernel(sigma)                                       # (2r + 1,)
    r = (len(k) - 1) // 2
    out = torch.arange(0, n, stride)                                 # (m,) kept positions
    src = (out[None, :] + torch.arange(-r, r + 1)[:, None]).clamp(0, n - 1)   # (2r + 1, m)
    m = torch.zeros(n, len(out))
    m.index_put_((src.flatten(), torch.arange(len(out)).repeat(len(k))), k.repeat_interleave(len(out)),
                 accumulate=True)
    return m


def blur(images: torch.Tensor, sigma: float, stride: int = 1) -> torch.Tensor:
    """Blurs each channel with a separable Gaussian kernel (replicated borders).

    Args:
        images: (B, C, H, W).
        sigma: kernel width in pixels; 0 returns the images unchanged (subsampled by ``stride``).
        stride: keep every ``stride``-th row and column of the blurred image, computed directly
            (a wide blur is smooth, so a coarse grid loses nothing and costs stride^2 less).

    Returns:
        (B, C, ceil(H / stride), ceil(W / stride)) blurred images.

    Raises:
        ValueError: for a negative or non-finite sigma, or a stride that is not a positive integer.
    """
    _check_blur(sigma, stride)
    if sigma == 0:
        return images[..., ::stride, ::stride]
    h, w = images.shape[-2:]
    rows = blur_matrix(h, float(sigma), stride).to(images)          # (H, H / stride)
    cols = blur_matrix(w, float(sigma), stride).to(images)          # (W, W / stride)
    return rows.T @ (images @ cols)                                  # (B, C, H / stride, W / stride)


def _check_blur(sigma, stride) -> None:
    if isinstance(sigma, bool) or not isinstance(sigma, Real) or not 0 <= sigma < math.inf:
        raise ValueError(f"blur sigma must be a finite number of pixels >= 0 (0: no blur), "
                         f"got {sigma!r}")
    if isinstance(stride, bool) or not isinstance(stride, Integral) or stride < 1:
        raise ValueError(f"blur stride must be an integer >= 1, got {stride!r}")


def log_likelihood(x: torch.Tensor, y: torch.Tensor, sigma_x: float, blur_sigma: float,
                   stride: int = 1) -> torch.Tensor:
    """log N(blur(x) | blur(y), sigma_x^2 I), summed over pixels and channels.

    log p(x | z) = -1/(2 sigma_x^2) ||S(b * x) - S(b * y)||^2 - (D/2) log(2 pi sigma_x^2),
    with b the blur kernel, y = render(z), S keeping every ``stride``-th row and column of the
    blurred image, and D the number of values kept.

    Args:
        x: observed images (B, C, H, W), intensities in [0, 1].
        y: rendered images (B, C, H, W).
        sigma_x: standard deviation of the pixel noise.
        blur_sigma: width of the blur kernel in pixels.
        stride: subsampling of the blurred images (1: every pixel, as in the paper).

    Returns:
        (B,) log-likelihoods.

    Raises:
        ValueError: for a sigma_x that is not positive and finite, or a bad blur (see :func:`blur`).
    """
    if not (isinstance(sigma_x, Real) and 0 < sigma_x < math.inf):
        raise ValueError(f"sigma_x must be a positive finite noise level, got {sigma_x!r}")
    d = blur(x, blur_sigma, stride) - blur(y, blur_sigma, stride)  # (B, C, H / stride, W / stride)
    n = d[0].numel()
    return -0.5 * d.pow(2).flatten(1).sum(1) / sigma_x**2 - 0.5 * n * math.log(2 * math.pi * sigma_x**2)


def pyramid_log_likelihood(x: torch.Tensor, y: torch.Tensor, sigma_x: float, levels,
                           weights=None) -> torch.Tensor:
    """A weighted sum of blurred Gaussian likelihoods, one per level of a blur pyramid.

    log p(x | z) = sum_l w_l log N(S_l b_l * x | S_l b_l * y, sigma_x^2 I)

    Each level is the paper's likelihood at its own blur width b_l and grid S_l. A wide level gives
    the wide basin in position; a narrow one sees the object's outline, and so its rotation. With
    all weights 1 it is a Gaussian likelihood of the stacked blurred images; a weight below 1
    tempers its level (used to switch a fine level on gradually, coarse to fine).

    Args:
        x: observed images (B, C, H, W).
        y: rendered images (B, C, H, W).
        sigma_x: standard deviation of the pixel noise, every level.
        levels: sequence of ``(blur_sigma, stride)`` pairs.
        weights: one number per level (default: all 1).

    Returns:
        (B,) log-likelihoods.

    Raises:
        ValueError: for no level, a level that is not a pair, weights of another length or
            negative, or a bad blur or noise (see :func:`log_likelihood`).
    """
    levels = tuple(levels)
    if not levels or any(not isinstance(lv, (tuple, list)) or len(lv) != 2 for lv in levels):
        raise ValueError(f"levels must be a non-empty sequence of (blur_sigma, stride) pairs, got {levels!r}")
    weights = (1.0,) * len(levels) if weights is None else tuple(float(w) for w in weights)
    if len(weights) != len(levels) or any(not w >= 0 for w in weights):
        raise ValueError(f"weights must be {len(levels)} numbers >= 0, one per level, got {weights!r}")
    total = 0.0
    for (blur_sigma, stride), w in zip(levels, weights):
        if w > 0:
            total = total + w * log_likelihood(x, y, sigma_x, blur_sigma, stride)
    return total if torch.is_tensor(total) else torch.zeros(x.shape[0], dtype=x.dtype)


def downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """Area-averages images to ``size x size`` (the network's 32x32 input).

    Args:
        images: (B, C, H, W) with H and W multiples of ``size``.

    Returns:
        (B, C, size, size).
    """
    return F.interpolate(images, size=(size, size), mode="area")


def check_images(images, input_size: int = 32) -> torch.Tensor:
    """Validates a batch of observed images and returns it as float32 intensities in [0, 1].

    Args:
        images: (B, 3, H, W) tensor or array, square, with H a multiple of ``input_size``
            (the renderer's 128x128 images, or 32x32 ones): floats in [0, 1], or uint8 in 0..255
            (divided by 255).

    Returns:
        float32 tensor (B, 3, H, W).

    Raises:
        TypeError: for a dtype other than floating point or uint8.
        ValueError: for another shape, a non-finite value, or a float outside [0, 1] (the
            message tells 0..255 data apart).
    """
    images = torch.as_tensor(images)
    if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] != images.shape[3] \
            or images.shape[2] < input_size or images.shape[2] % input_size:
        raise ValueError(f"images must be (B, 3, H, H) with H a multiple of {input_size} "
                         f"(channels first, as Renderer.render_batch returns), got "
                         f"{tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.float().div_(255.0)
    if not images.is_floating_point():
        raise TypeError(f"images must be floats in [0, 1] or uint8 in 0..255, got {images.dtype}")
    images = images.float()
    if images.numel() == 0:
        return images
    if not torch.isfinite(images).all():
        raise ValueError(f"images must be finite: {int((~torch.isfinite(images)).sum())} values "
                         f"are NaN or infinite")
    low, high = images.min().item(), images.max().item()
    if low < 0 or high > 1:
        hint = " (these look like 0..255 values: divide by 255 or pass uint8)" if high > 1.5 else ""
        raise ValueError(f"float images must be intensities in [0, 1], got values in "
                         f"[{low!r}, {high!r}]{hint}")
    return images


def level_weights(cfg, step: int) -> tuple:
    """Weight of each likelihood level at a training step: 1 for the widest, and for the narrower
    ones 0 before ``cfg.fine_start``, rising linearly to 1 over ``cfg.fine_ramp`` steps (``cfg.levels``: the
    pyramid's levels, widest first)."""
    fine = min(max((step - cfg.fine_start) / max(cfg.fine_ramp, 1), 0.0), 1.0)
    return (1.0,) + (fine,) * (len(cfg.levels) - 1)
