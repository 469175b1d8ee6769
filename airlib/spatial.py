"""The spatial transformer (Fig. 2): moves an object between its 28x28 window and the 50x50 image.

``z_where = (s, x, y)`` describes a square window: ``s`` is the zoom (image width / window width,
so ``s = 1`` is the whole image and ``s = 50/28`` shows a digit at its native size) and ``(x, y)`` is
the window's centre in normalised image coordinates, ``[-1, 1]`` from the left/top edge to the
right/bottom edge. A point ``u`` of the window (also in ``[-1, 1]``) lies at image point

    p = u / s + (x, y),                                   (attend:  image  -> window, inference)
    u = s * (p - (x, y)),                                 (place:   window -> image,  generation)

so :func:`place` is the inverse of :func:`attend` (the generative model's ``y^i = ST(y_att^i, z_where^i)``
and the inference network's ``x_att^i = ST^{-1}(x, z_where^i)`` of Fig. 2).

Both are bilinear resampling with zero padding, the same as ``torch.nn.functional.grid_sample(...,
align_corners=False)`` (the tests check this). Because the transform only scales and shifts, bilinear
resampling is separable: a window is ``W_y @ image @ W_x^T`` with two small interpolation matrices of
tent-function weights, and the gradient with respect to ``z_where`` flows through the weights. On
the project's CPU this runs at the same speed as ``grid_sample`` (``benchmarks/air_speed.py``); it is
kept because each step reads as two matrix products.
"""
from __future__ import annotations

import torch
from torch import Tensor


def _pixel_centres(n: int, device, dtype) -> Tensor:
    """Normalised coordinates of the centres of ``n`` pixels (align_corners=False): (n,)."""
    return (2 * torch.arange(n, device=device, dtype=dtype) + 1) / n - 1


def _interpolation(src_norm: Tensor, n_src: int) -> Tensor:
    """Bilinear weights that sample positions ``src_norm`` (B, n_out) of a length-``n_src`` axis.

    Returns:
        (B, n_out, n_src): row ``i`` holds the tent weights ``max(0, 1 - |pixel(i) - j|)``.
    """
    pix = (src_norm + 1) * (n_src / 2) - 0.5                              # (B, n_out) in source pixels
    j = torch.arange(n_src, device=src_norm.device, dtype=src_norm.dtype)
    return torch.relu(1 - (pix.unsqueeze(-1) - j).abs())                  # (B, n_out, n_src)


def _check_where(z_where: Tensor, batch: int) -> None:
    if z_where.shape != (batch, 3):
        raise ValueError(f"z_where must have shape ({batch}, 3) = (scale, x, y), got {tuple(z_where.shape)}")


def attend(images: Tensor, z_where: Tensor, size: int = 28) -> Tensor:
    """Reads the window ``z_where`` out of each image: ``x_att = ST^{-1}(x, z_where)``.

    Args:
        images: (B, H, W) images.
        z_where: (B, 3) windows ``(s, x, y)``; ``s`` must be positive.
        size: side of the square window in pixels.

    Returns:
        (B, size, size) windows, bilinearly resampled, zero outside the image.
    """
    b, h, w = images.shape
    _check_where(z_where, b)
    s, x, y = z_where.unbind(-1)                                         # (B,) each
    u = _pixel_centres(size, images.device, images.dtype)                # (size,)
    wy = _interpolation(u / s[:, None] + y[:, None], h)                  # (B, size, H)
    wx = _interpolation(u / s[:, None] + x[:, None], w)                  # (B, size, W)
    return wy @ images @ wx.transpose(1, 2)                              # (B, size, size)


def place(patches: Tensor, z_where: Tensor, size: int = 50) -> Tensor:
    """Writes each patch into an empty canvas at ``z_where``: ``y = ST(y_att, z_where)``.

    Args:
        patches: (B, h, w) object patches (the decoder's ``y_att``).
        z_where: (B, 3) windows ``(s, x, y)``.
        size: side of the square canvas in pixels.

    Returns:
        (B, size, size) canvases, zero outside the placed window.
    """
    b, h, w = patches.shape
    _check_where(z_where, b)
    s, x, y = z_where.unbind(-1)
    p = _pixel_centres(size, patches.device, patches.dtype)              # (size,)
    wy = _interpolation(s[:, None] * (p - y[:, None]), h)                # (B, size, h)
    wx = _interpolation(s[:, None] * (p - x[:, None]), w)                # (B, size, w)
    return wy @ patches @ wx.transpose(1, 2)                             # (B, size, size)


def theta(z_where: Tensor, inverse: bool = False) -> Tensor:
    """The 2x3 affine matrices of ``torch.nn.functional.affine_grid`` for :func:`attend` (or
    :func:`place` with ``inverse=True``): a reference implementation used by the tests.

    Args:
        z_where: (B, 3).
        inverse: the matrix of :func:`place` instead of :func:`attend`.

    Returns:
        (B, 2, 3).
    """
    s, x, y = z_where.unbind(-1)
    zero = torch.zeros_like(s)
    if inverse:
        rows = [torch.stack([s, zero, -s * x], -1), torch.stack([zero, s, -s * y], -1)]
    else:
        rows = [torch.stack([1 / s, zero, x], -1), torch.stack([zero, 1 / s, y], -1)]
    return torch.stack(rows, 1)


def window_box(z_where: Tensor, image_size: int = 50) -> Tensor:
    """The window's square in pixel coordinates, for drawing: (..., 3) -> (..., 4) ``(left, top, width, height)``."""
    s, x, y = z_where.unbind(-1)
    half = image_size / (2 * s)                                           # half the side, in pixels
    cx, cy = (x + 1) * image_size / 2, (y + 1) * image_size / 2
    return torch.stack([cx - half, cy - half, 2 * half, 2 * half], -1)
