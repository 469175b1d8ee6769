"""The table-top scene model of Sec. III-B, Eq. (8): up to N = 3 pieces of crockery and a camera angle.

    p(x, z_pres^{1:N}, z_where^{1:N}, z_what^{1:N}) = prod_i p(z_pres^i) p(z_what^i) p(z_where^i)      (8)

with z_pres^i ~ Bernoulli(alpha), z_what^i ~ Discrete(beta) over (cup, pan, plate) and z_where^i the
position on the table plane and the rotation about its normal; the moving-camera scenes add
z_cam ~ N(0, sigma_cam^2). The count n = sum_i z_pres^i is then Binomial(N, alpha).

The data sets follow the paper's setup: for each slot, presence, type, position and rotation are drawn
independently, with two differences a physical table imposes, both stated here: positions are
uniform on the placement square and a slot whose object would stand inside an earlier one is drawn
again (objects do not interpenetrate); the camera angle of the moving-camera data is uniform on
``+-camera_range`` (the paper: "restricted to +-40 degrees"). Two data sets: ``repeats=False``, where
each type appears at most once (the slots take a random permutation of the three types), and
``repeats=True``, where types are drawn independently and may repeat.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from .pose import log_uniform_pose
from .render.crockery import BODY_RADIUS
from .render.tabletop import KINDS, TableSpec

N = 3                      # objects at most (slots)
GAP = 0.02                 # metres kept between two objects' bodies


@dataclass(frozen=True)
class ScenePrior:
    """The parameters of Eq. (8) for the data (alpha, beta) and the camera prior's sigma (degrees)."""
    alpha: float = 0.5
    beta: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    sigma_cam: float = 40.0 / math.sqrt(3)     # the standard deviation of the uniform camera of the data
    overlap_nats: float = 1000.0               # nats per metre of interpenetration (see overlap_log_prior)

    def __post_init__(self):
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha!r}")
        beta = np.asarray(self.beta, np.float64)
        if beta.shape != (len(KINDS),) or np.any(beta < 0) or not math.isclose(beta.sum(), 1.0, abs_tol=1e-9):
            raise ValueError(f"beta must be {len(KINDS)} probabilities summing to 1, got {self.beta!r}")
        if not self.sigma_cam > 0:
            raise ValueError(f"sigma_cam must be positive, got {self.sigma_cam!r}")
        if not self.overlap_nats >= 0:
            raise ValueError(f"overlap_nats must be non-negative, got {self.overlap_nats!r}")


class Scenes(NamedTuple):
    """A batch of scenes. present (B, N) bool; kind (B, N) int64 (-1 where absent); pose (B, N, 3) float32
    (x, y in metres, rotation in [-pi, pi)); camera (B,) float32, degrees from the central position."""
    present: np.ndarray
    kind: np.ndarray
    pose: np.ndarray
    camera: np.ndarray

    @property
    def count(self) -> np.ndarray:
        return self.present.sum(1)

    def take(self, index) -> "Scenes":
        """The scenes at ``index`` (an index array, a boolean mask or a slice over the batch)."""
        return Scenes(*(v[index] for v in self))


def sample_scenes(n: int, rng: np.random.Generator, repeats: bool = True, moving_camera: bool = False,
                  prior: ScenePrior = ScenePrior(), spec: TableSpec = TableSpec(), max_tries: int = 1000) -> Scenes:
    """Draws ``n`` scenes (see the module's docstring).

    Args:
        repeats: whether a type may appear more than once in a scene.
        moving_camera: draw a camera angle uniform on ``+-spec.camera_range`` (else 0).
        max_tries: draws of one slot's position before giving up (a RuntimeError names the scene).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    present = rng.random((n, N)) < prior.alpha
    if repeats:
        kind = rng.choice(len(KINDS), size=(n, N), p=np.asarray(prior.beta))
    else:
        kind = np.argsort(rng.random((n, len(KINDS))), axis=1)[:, :N]     # a random permutation per scene
    kind = np.where(present, kind, -1).astype(np.int64)
    pose = np.zeros((n, N, 3), np.float64)
    p = spec.placement_half_width
    radius = np.array([BODY_RADIUS[k] for k in KINDS])
    for b in range(n):
        for i in np.flatnonzero(present[b]):
            for _ in range(max_tries):
                xy = rng.uniform(-p, p, 2)
                others = [j for j in range(i) if present[b, j]]
                if all(np.hypot(*(xy - pose[b, j, :2])) >= radius[kind[b, i]] + radius[kind[b, j]] + GAP
                       for j in others):
                    break
            else:
                raise RuntimeError(f"scene {b}: no free place for object {i} after {max_tries} draws")
            pose[b, i] = (*xy, rng.uniform(-math.pi, math.pi))
    camera = rng.uniform(-spec.camera_range, spec.camera_range, n) if moving_camera else np.zeros(n)
    return Scenes(present, kind, pose.astype(np.float32), camera.astype(np.float32))



def overlap_log_prior(xy, kind, prev_xy, prev_kind, prev_present, nats_per_metre: float):
    """The non-interpenetration part of log p(z_where^i | z^{1:i-1}), relaxed to be differentiable.

    The data never put an object inside an earlier one (:func:`sample_scenes` draws it again), so the
    model's density of such a position is zero. Without this the ELBO lets two slots describe one
    object at one place for free (the renderer draws them on top of each other, the image does not
    change), and counts drift up. The hard constraint is relaxed to ``-nats_per_metre`` times the
    depth by which the bodies' discs overlap, summed over the earlier present objects:

        log p(z_where^i | z^{<i}) += -c * sum_{j < i, present} max(0, r(what^i) + r(what^j) - |xy^i - xy^j|)

    Args:
        xy (B, 2) metres; kind (B,) int64; prev_xy (B, I, 2); prev_kind (B, I); prev_present (B, I) 0/1.

    Returns:
        (B,) the term (<= 0).
    """
    radius = torch.tensor([BODY_RADIUS[k] for k in KINDS], dtype=xy.dtype, device=xy.device)
    if prev_xy.shape[1] == 0:
        return xy.new_zeros(len(xy))
    reach = radius[kind][:, None] + radius[prev_kind.clamp(min=0)]               # (B, I)
    distance = (xy[:, None] - prev_xy).pow(2).sum(-1).clamp(min=1e-12).sqrt()    # (B, I)
    return -nats_per_metre * ((reach - distance).clamp(min=0) * prev_present).sum(1)


def count_probs(prior: ScenePrior = ScenePrior()) -> list[float]:
    """p(n) for n = 0..N, the Binomial(N, alpha) count that Eq. (8) implies."""
    return [math.comb(N, k) * prior.alpha ** k * (1 - prior.alpha) ** (N - k) for k in range(N + 1)]


def log_pose_density(spec: TableSpec = TableSpec()) -> float:
    """log p(z_where): a position uniform on the placement square and a rotation uniform on a turn."""
    return log_uniform_pose(spec.placement_half_width)


def log_prior(scenes: Scenes, prior: ScenePrior = ScenePrior(), spec: TableSpec = TableSpec()) -> np.ndarray:
    """log p(z) of scene descriptions under the model AIR is trained with (its ELBO's prior terms):

        log p(z) = log Binomial(n; N, alpha) + sum_{i <= n} [log beta_{what^i} - log |square| - log 2 pi
                                                             + overlap_log_prior(z^i | z^{<i})]

    with the present objects taken in slot order (the model describes an ordered list of n objects).
    The camera is not included.

    Returns:
        (B,) float64.
    """
    n = scenes.present.sum(1)                                                          # (B,)
    out = np.log(count_probs(prior))[n] + n * log_pose_density(spec)
    kind = torch.as_tensor(np.where(scenes.present, scenes.kind, 0))                    # (B, N)
    xy = torch.as_tensor(scenes.pose[..., :2], dtype=torch.float64)                     # (B, N, 2)
    present = torch.as_tensor(scenes.present, dtype=torch.float64)                      # (B, N)
    for i in range(N):
        overlap = overlap_log_prior(xy[:, i], kind[:, i], xy[:, :i], kind[:, :i], present[:, :i], prior.overlap_nats)
        term = np.log(np.asarray(prior.beta))[kind[:, i].numpy()] + overlap.numpy()
        out = out + np.where(scenes.present[:, i], term, 0.0)
    return out
