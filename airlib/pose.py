"""The pose z_where = (x, y, theta) of an object on a table (Sec. III): its uniform prior and q's Gaussian.

The 3D network of chapter 5 (:mod:`airlib.scene3d`) and the table-top network of chapter 6
(:mod:`airlib.tabletop_air`) read their pose from the same seven network outputs and share the prior;
they differ in how the scale is bounded and in whether the angle's gradient is capped, which
:func:`pose_gaussian` takes as arguments.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

# Largest standard deviations of q(z_where | x): 10 cm, and 0.5 rad for the angle. The prior on the angle
# is uniform on the circle, so where the likelihood is flat in the angle the entropy term widens q(theta)
# as far as it may; at a width of pi the samples cover the circle and the expected gradient with respect
# to the mean angle vanishes. At 0.5 rad the samples stay within reach of the nearest basin.
MAX_SCALE = torch.tensor([0.1, 0.1, 0.5])
MIN_SCALE = 1e-3


def log_uniform_pose(half_width: float) -> float:
    """log p(z_where): a position uniform on the placement square [-p, p]^2 and an angle uniform on a turn."""
    return -math.log((2 * half_width) ** 2) - math.log(2 * math.pi)


def clamp_position(pose: torch.Tensor, half_width: float) -> torch.Tensor:
    """Keeps (x, y) on the placement square, where the prior has its mass; theta is free: (B, 3) -> (B, 3)."""
    return torch.cat([pose[:, :2].clamp(-half_width, half_width), pose[:, 2:]], dim=1)


def pose_gaussian(out: torch.Tensor, half_width: float, bound: str = "sigmoid",
                  min_radius: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Reads seven network outputs as q(z_where | x) = N(loc, diag(scale^2)) on (x, y, theta).

    The position is ``p tanh`` of two outputs, on the placement square. The mean angle is the atan2 of two
    more, a point on the circle: an output on the line would need a jump somewhere on the circle of
    angles, where a turn of the object by a hair flips its estimate by a whole turn.

    Args:
        out: (B, 7) x, y, (cos, sin) of theta, three raw scales.
        half_width: p, the placement square's half-width.
        bound: how the raw scales are kept in (0, MAX_SCALE]: ``"sigmoid"``,
            ``MAX_SCALE * sigmoid(raw) + MIN_SCALE``, or ``"clamp"``,
            ``min(softplus(raw) + MIN_SCALE, MAX_SCALE)``.
        min_radius: if given, the gradient of the angle with respect to (cos, sin), which grows as 1/r
            near the origin, is capped at 1 / min_radius there (the value is unchanged).

    Returns:
        loc (B, 3), scale (B, 3).
    """
    if bound not in ("sigmoid", "clamp"):
        raise ValueError(f"bound must be 'sigmoid' or 'clamp', got {bound!r}")
    phi = torch.atan2(out[:, 3], out[:, 2])[:, None]  # (B, 1), in (-pi, pi]
    if min_radius is not None:
        r = out[:, 2:4].norm(dim=1, keepdim=True).detach()
        phi = phi.detach() + (phi - phi.detach()) * (r / r.clamp(min=min_radius))
    max_scale = MAX_SCALE.to(out)
    if bound == "sigmoid":
        scale = max_scale * torch.sigmoid(out[:, 4:]) + MIN_SCALE
    else:
        scale = torch.minimum(F.softplus(out[:, 4:]) + MIN_SCALE, max_scale)
    return torch.cat([half_width * torch.tanh(out[:, :2]), phi], dim=1), scale
