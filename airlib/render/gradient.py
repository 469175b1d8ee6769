"""Gradients through the renderer by finite differences (Sec. III).

MuJoCo's rasteriser gives no gradient, so the paper differentiates it by forward finite
differences "with a constant epsilon = 1e-4 with respect to the scene configuration". Here the
Jacobian of the rendered image with respect to the pose z_where = (x, y, theta) is

    forward:  dy/dz_k ~= (render(z + eps_k e_k) - render(z)) / eps_k          (3 extra renders)
    central:  dy/dz_k ~= (render(z + eps_k e_k) - render(z - eps_k e_k)) / (2 eps_k)   (6)

and :class:`RenderFunction` multiplies it into the incoming gradient, so any loss of the image
(the blurred Gaussian likelihood, a reconstruction error) back-propagates into z_where. The
identity is discrete and gets no gradient (the score-function estimator handles it).

A rasterised image is piecewise constant in the pose: an edge moves by whole multisamples and
intensities are 8-bit. A move of 1e-4 m is a hundredth of a pixel here, so most such moves change
nothing at all; ``benchmarks/render.py`` and the chapter measure how informative each epsilon is,
and :data:`DEFAULT_EPS` is chosen from that measurement.
"""
from __future__ import annotations

import numpy as np
import torch

from airlib.render.renderer import Renderer, shared_renderer

# Steps in metres (x, y) and radians (theta). See the module docstring.
DEFAULT_EPS = (1e-2, 1e-2, 3e-2)


def _eps(eps) -> np.ndarray:
    e = np.broadcast_to(np.asarray(eps, dtype=np.float64), (3,)).copy()
    if np.any(e <= 0):
        raise ValueError(f"finite-difference steps must be positive, got {e.tolist()}")
    return e


def image_jacobian(renderer: Renderer, identity: int, pose, eps=DEFAULT_EPS,
                   scheme: str = "forward", base: np.ndarray | None = None) -> torch.Tensor:
    """Finite-difference Jacobian of one rendered image with respect to its pose.

    Args:
        renderer: the renderer to use.
        identity: object index.
        pose: (3,) ``(x, y, theta)``.
        eps: step per pose component (a float or three).
        scheme: ``"forward"`` or ``"central"``.
        base: the image rendered at ``pose`` (uint8 (H, W, 3)), if already at hand.

    Returns:
        float32 tensor (3, 3, H, W): d image / d pose_k for k = x, y, theta.
    """
    e = _eps(eps)
    pose = np.asarray(pose, dtype=np.float64)
    if scheme == "forward":
        if base is None:
            base = renderer.render(identity, pose, check=False)
        base = base.astype(np.float32)
    elif scheme != "central":
        raise ValueError(f"scheme must be 'forward' or 'central', got {scheme!r}")
    out = np.empty((3, renderer.size, renderer.size, 3), np.float32)  # (3, H, W, rgb)
    for k in range(3):
        step = np.zeros(3)
        step[k] = e[k]
        plus = renderer.render(identity, pose + step, check=False).astype(np.float32)
        if scheme == "forward":
            out[k] = (plus - base) / e[k]
        else:
            minus = renderer.render(identity, pose - step, check=False).astype(np.float32)
            out[k] = (plus - minus) / (2 * e[k])
    return torch.from_numpy(out).permute(0, 3, 1, 2).div_(255.0)  # (3, 3, H, W)


class RenderFunction(torch.autograd.Function):
    """image = render(identity, pose), differentiable in ``pose`` by finite differences."""

    @staticmethod
    def forward(ctx, pose, identity, renderer, eps, scheme):
        images = renderer.render_batch(identity, pose.detach(), check=False)  # (B, 3, H, W)
        ctx.renderer, ctx.eps, ctx.scheme = renderer, eps, scheme
        ctx.identity = torch.as_tensor(identity).detach().cpu().numpy()
        ctx.save_for_backward(pose.detach(), images)
        return images.to(pose.dtype)

    @staticmethod
    def backward(ctx, grad_images):
        pose, images = ctx.saved_tensors
        grad = torch.zeros(pose.shape, dtype=torch.float64)  # (B, 3)
        base = (images * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()  # (B, H, W, 3)
        pose64 = pose.cpu().double().numpy()
        g = grad_images.detach().cpu().float()
        for b in range(pose.shape[0]):
            jac = image_jacobian(ctx.renderer, int(ctx.identity[b]), pose64[b], ctx.eps,
                                 ctx.scheme, base[b])  # (3, 3, H, W)
            grad[b] = (jac * g[b]).flatten(1).sum(1).double()
        return grad.to(pose), None, None, None, None


def render(identity, pose: torch.Tensor, renderer: Renderer | None = None, eps=DEFAULT_EPS,
           scheme: str = "forward", check: bool = True) -> torch.Tensor:
    """Renders a batch of scenes, differentiable in ``pose`` by finite differences.

    Args:
        identity: (B,) object indices.
        pose: (B, 3) ``(x, y, theta)``; may require grad.
        renderer: defaults to the process's shared 128x128 renderer.
        eps: finite-difference step per pose component.
        scheme: ``"forward"`` (the paper's) or ``"central"``.
        check: validate the scenes first (bad identity, non-finite or off-table pose).

    Returns:
        (B, 3, H, W) images in [0, 1], in ``pose``'s dtype.
    """
    renderer = renderer or shared_renderer()
    if check:
        from airlib.render.scene import check_scene
        ident = torch.as_tensor(identity).detach().cpu().tolist()
        for i, p in zip(ident, pose.detach().cpu().double().numpy()):
            check_scene(i, p, renderer.spec)
    _eps(eps)
    return RenderFunction.apply(pose, identity, renderer, eps, scheme)
