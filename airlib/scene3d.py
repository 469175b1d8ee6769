"""Inferring one 3D object's identity and pose through the renderer (Sec. III-A, Fig. 8).

The generative model is fixed: a scene description z = (z_what, z_where), with z_what in
{cube, sphere, cylinder} and z_where = (x, y, theta), is rendered by MuJoCo
(:mod:`airlib.render`) and observed through the blurred Gaussian likelihood. The prior is the one
the data are drawn from: z_what uniform, (x, y) uniform on the placement square, theta uniform on
the circle. Three ways to infer z from an image x:

* AIR with N = 1: :class:`SceneNet` outputs q(z_what | x), a categorical, and q(z_where | x), a
  Gaussian, and is trained on unlabelled images by maximising the ELBO
  E_q[log p(x | z) + log p(z) - log q(z | x)]: the score-function estimator with NVIL's baseline
  for z_what (Eq. 7), the reparameterised gradient through the renderer's finite differences for
  z_where (Eq. 6).
* Supervised: the same network trained to maximise log q(z_true | x) of the ground truth.
* Direct optimisation: per image, gradient ascent on log p(x | z) in z_where from a random start,
  with the same finite-difference gradients, once per identity; the best is kept
  (:mod:`airlib.direct`, which also holds the comparison of the three on held-out scenes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from airlib import estimators as est
from airlib.pose import MAX_SCALE, clamp_position, log_uniform_pose, pose_gaussian
from airlib.profiles import select
from airlib.render import OBJECTS, SYMMETRY, SceneSpec, sample_scenes, shared_renderer
from airlib.render.gradient import DEFAULT_EPS, render
from airlib.render.likelihood import check_images, downsample, level_weights, pyramid_log_likelihood  # noqa: F401


@dataclass(frozen=True)
class Objects3DConfig:
    """Everything that defines a trained model and its evaluation.

    Attributes:
        steps: optimiser steps of training.
        batch: images per step.
        lr: Adam's learning rate.
        hidden: width of the network's fully connected layer.
        sigma_x: pixel noise of the likelihood.
        levels: the likelihood's blur pyramid, ``(blur_px, stride)`` per level, widest first
            (:func:`airlib.render.likelihood.pyramid_log_likelihood`). The wide level (16 px,
            compared on every 4th pixel: the blur is 4 times wider than the grid, so this loses
            nothing) gives positions a basin as wide as the table; the narrow one (2 px, every
            pixel) sees the object's outline and so its rotation.
        fine_start: training step at which the narrow levels start to count (coarse to fine):
            before it the likelihood is the wide level alone, as positions are being learned.
        fine_ramp: steps over which the narrow levels' weight grows linearly from 0 to 1.
        fine_lr: from ``fine_start`` on, AIR's learning rate is at most this fraction of ``lr``
            (the cosine decay below it carries on). At the full rate the angle's gradients, noisier
            than the position's, left AIR's angle where it was for a thousand steps.
        render_size: side of rendered images (the paper's 128).
        input_size: side of the network's input (the paper's 32).
        eps: finite-difference steps for (x, y, theta).
        test_scenes: held-out scenes for AIR and the supervised network.
        direct_scenes: the first this many of them are also solved by direct optimisation.
        direct_steps: Adam steps of direct optimisation, per identity: the first half on the wide
            level alone, the second on the whole pyramid (coarse to fine, as in training).
        direct_lr: its learning rate (decayed by a cosine over the fine half).
        direct_restarts: random restarts per scene of the stability measure.
        stability_scenes: the first this many held-out scenes get ``direct_restarts`` restarts.
        seed: seed of the training stream (the test set uses a disjoint one).
        what_warmup: steps at the start of training during which the type head is not trained
            (z_what is drawn from the untrained, near-uniform q). Without it the score function
            commits early to the type that explains a badly placed guess best (the bright
            cylinder) and recovers only slowly; with it, the type is learned once the positions
            are, when the right type wins by hundreds of nats.
        supervised_beta: the supervised loss weighs each pose component's negative log-likelihood
            by its predicted variance to this power, held constant (beta-NLL; see
            :func:`supervised_loss`).
        samples: K, samples of z per training image. K = 1: NVIL's learned baseline; K > 1: a
            leave-one-out baseline from the other samples of the same image.
        log_every: steps between evaluations on held-out scenes during training.
        clip: max gradient norm (None: no clipping).
        checkpoint_seconds: at least this long between checkpoints.
    """

    steps: int
    batch: int
    lr: float = 1e-3
    hidden: int = 256
    sigma_x: float = 0.1
    levels: tuple = ((16.0, 4), (2.0, 1))
    fine_start: int = 600
    fine_ramp: int = 400
    fine_lr: float = 1.0
    render_size: int = 128
    input_size: int = 32
    eps: tuple = DEFAULT_EPS
    test_scenes: int = 1000
    direct_scenes: int = 1000
    direct_steps: int = 60
    direct_lr: float = 0.03
    direct_restarts: int = 4
    stability_scenes: int = 50
    seed: int = 0
    what_warmup: int = 0
    supervised_beta: float = 0.5
    samples: int = 1
    log_every: int = 100
    clip: float | None = None
    checkpoint_seconds: float = 120.0


CONFIGS = {
    "smoke": Objects3DConfig(steps=25, batch=8, input_size=64, test_scenes=12, direct_scenes=3, direct_steps=6,
                    direct_restarts=2, stability_scenes=2, what_warmup=5, fine_start=10, fine_ramp=5,
                    log_every=5, checkpoint_seconds=0.0),
    "paper": Objects3DConfig(steps=5000, batch=32, input_size=64, test_scenes=1000, direct_scenes=200, fine_lr=0.3,
                    what_warmup=300),
}

SPEC = SceneSpec()
TEST_SEED = 10_000


def config(profile: str) -> Objects3DConfig:
    """The configuration of a profile (``"smoke"`` or ``"paper"``)."""
    return select(CONFIGS, profile)


# The likelihood at each stage of the coarse-to-fine schedule (the paper profile's levels).
STAGES = (("coarse", CONFIGS["paper"].levels[:1]), ("fine", CONFIGS["paper"].levels))


def log_likelihood(cfg: Objects3DConfig, images: torch.Tensor, rendered: torch.Tensor, weights=None) -> torch.Tensor:
    """log p(x | z) of the model: the blur pyramid of ``cfg.levels`` (all levels at full weight by default).

    Returns:
        (B,) log-likelihoods.
    """
    return pyramid_log_likelihood(images, rendered, cfg.sigma_x, cfg.levels, weights)


def wrap_angle(theta: torch.Tensor, period: torch.Tensor | float = 2 * math.pi) -> torch.Tensor:
    """An angle mapped to [-period / 2, period / 2) (by default [-pi, pi))."""
    return torch.remainder(theta + period / 2, period) - period / 2


MIN_RADIUS = 0.25  # see SceneNet.pose
# Order of each type's rotational symmetry: m turns of 2 pi / m leave the object's image unchanged.
ORDER = torch.tensor([round(2 * math.pi / SYMMETRY[o]) if SYMMETRY[o] else 1 for o in OBJECTS])


def _encoder(hidden: int, input_size: int) -> nn.Sequential:
    """A small CNN: (B, 3, 32, 32) -> (B, hidden) features."""
    return nn.Sequential(
        nn.Conv2d(3, 32, 5, stride=2, padding=2), nn.ReLU(),  # (B, 32, 16, 16)
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),  # (B, 64, 8, 8)
        nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU(),  # (B, 64, 4, 4)
        nn.Flatten(), nn.Linear(64 * (input_size // 8) ** 2, hidden), nn.ReLU())


class SceneNet(nn.Module):
    """Takes a small image to q(z_what | x) (3 logits) and q(z_where | x) (Gaussian loc, scale).

    The pose is read by :func:`airlib.pose.pose_gaussian`: the mean angle is the atan2 of two
    outputs, a point on the circle. Without ``symmetric`` this uses only that angles are periodic,
    nothing of any object's symmetry (the paper's supervised baseline).

    The cube's image repeats every quarter turn, so its posterior over theta has four modes, and
    no continuous map from its images to one point on the circle of theta exists (going once round
    the images, theta must advance a quarter turn and come back: a jump somewhere). With
    ``symmetric`` (AIR's network), the angle outputs are read as a point on the circle of m theta,
    m the type's order of symmetry from the generative model (:data:`ORDER`), which the images do
    determine continuously. q(theta) is then the mixture of the Gaussian's m copies a turn / m
    apart, with density q(theta) = N(theta; mu, s) / m near its mean; the likelihood is the same
    for every copy, so the sample's copy is rendered (the copies do not overlap: s <= 0.5 / m).

    Position and angle share one encoder.

    The paper's R(x, ...) for one step (N = 1), as two branches: one for the type, one for the
    pose. With one shared encoder, AIR's encoder follows the pathwise gradient of the likelihood
    (hundreds of nats per unit of pose) and ignores the score function's (of order one after
    normalisation), and the type head, left with pose features, learned only the type that is best
    on average (the bright cylinder). Even with its own encoder, the type head collapsed onto the
    cylinder within 20 steps: a wrongly typed cylinder costs least on average, and with positive
    (ReLU) features every weight can carry that preference; batch normalisation removes it.
    """

    def __init__(self, hidden: int = 256, input_size: int = 32, symmetric: bool = False):
        super().__init__()
        self.symmetric = symmetric
        self.what_encoder = _encoder(hidden // 4, input_size)
        self.encoder = _encoder(hidden, input_size)
        # Batch-normalised features: the weights can only tell images apart, and a preference
        # for one type over all images must go through the bias, one learning rate per step.
        self.what = nn.Sequential(nn.BatchNorm1d(hidden // 4), nn.Linear(hidden // 4, len(OBJECTS)))
        self.where = nn.Linear(hidden, 7)  # x, y, (cos, sin) of theta, 3 raw scales
        with torch.no_grad():  # start with scales of 5 cm and 0.3 rad: samples stay on the table
            self.where.bias[4:] = torch.tensor([0.0, 0.0, math.log(0.3 / (MAX_SCALE[2].item() - 0.3))])

    def type_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> logits (B, 3) of q(z_what | x)."""
        return self.what(self.what_encoder(x))

    def pose(self, x: torch.Tensor, identity: torch.Tensor):
        """(B, 3, S, S), types (B,) -> loc (B, 3), scale (B, 3) of q(z_where | x, z_what) on (x, y, theta).

        With ``symmetric``, the two angle outputs are a point on the circle of m theta, m the type's
        order of symmetry (:data:`ORDER`: 4 for the cube), so the mean angle is atan2 / m and its
        scale the circle's scale / m.
        """
        out = self.where(self.encoder(x))
        # The angle's gradient is capped near the origin of (cos, sin), where a network pulled
        # between symmetric modes (the supervised cube) drifts.
        loc, scale = pose_gaussian(out, SPEC.placement_half_width, "sigmoid", MIN_RADIUS)
        if self.symmetric:
            m = ORDER.to(out)[identity][:, None]  # (B, 1)
            loc = torch.cat([loc[:, :2], loc[:, 2:] / m], dim=1)
            scale = torch.cat([scale[:, :2], scale[:, 2:] / m], dim=1)
        return loc, scale

    def forward(self, x: torch.Tensor, identity: torch.Tensor | None = None):
        """(B, 3, S, S) -> logits (B, 3), loc (B, 3), scale (B, 3) of (x, y, theta); the pose is
        that of ``identity`` (B,), by default the most probable type."""
        logits = self.type_logits(x)
        loc, scale = self.pose(x, logits.argmax(1) if identity is None else identity)
        return logits, loc, scale


def scenes(n: int, seed) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draws and renders ``n`` scenes from the prior.

    Returns:
        identity (n,) long, pose (n, 3), images (n, 3, 128, 128) in [0, 1].
    """
    ident, pose = sample_scenes(n, SPEC, np.random.default_rng(seed))
    images = shared_renderer(128, SPEC).render_batch(ident, pose)
    return torch.from_numpy(ident), torch.from_numpy(pose), images


def log_prior(identity: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """log p(z_what) + log p(z_where): uniform type, position on the square, angle on the circle.

    Returns:
        (B,) a constant, log(1/3) - 2 log(2p) - log(2 pi), inside the placement square.
    """
    const = -math.log(len(OBJECTS)) + log_uniform_pose(SPEC.placement_half_width)
    return torch.full(identity.shape, const, dtype=pose.dtype)


def clamp_to_table(pose: torch.Tensor) -> torch.Tensor:
    """Keeps (x, y) on the placement square (where the prior has its mass); theta is free."""
    return clamp_position(pose, SPEC.placement_half_width)


class ObjectAIR(nn.Module):
    """The inference network with its NVIL baseline and signal normaliser (the ELBO's parts)."""

    def __init__(self, cfg: Objects3DConfig, symmetric: bool = False):
        super().__init__()
        self.cfg = cfg
        self.net = SceneNet(cfg.hidden, cfg.input_size, symmetric)
        self.baseline = est.BaselineMLP(3 * cfg.input_size**2, hidden=64)
        self.normaliser = est.SignalNormaliser(1)

    def loss(self, images: torch.Tensor, learn_what: bool = True, weights=None):
        """The ELBO surrogate of a batch of unlabelled images, Eqs. (3), (6), (7).

        ELBO = log p(x | z) + log p(z_what) + log p(z_where) - log q(z_what | x) - log q(z_where | x)

        Args:
            images: (B, 3, 128, 128) observed images.
            learn_what: train the type head (False during ``what_warmup``).
            weights: the likelihood levels' weights (:func:`level_weights`; default all 1).

        Returns:
            ``est.Surrogate(loss, elbo, signal)``.
        """
        cfg = self.cfg
        K = cfg.samples
        images = images.repeat_interleave(K, dim=0)  # (B K, 3, 128, 128): K samples per image
        x = downsample(images, cfg.input_size)  # (B K, 3, 32, 32)
        logits = self.net.type_logits(x)
        if not learn_what:
            logits = logits.detach()
        what = torch.distributions.Categorical(logits=logits).sample()  # (B K,)
        log_q_what = F.log_softmax(logits, 1).gather(1, what[:, None])  # (B K, 1)
        loc, scale = self.net.pose(x, what)
        where = est.normal_rsample(loc, scale)  # (B K, 3), reparameterised
        log_q_where = est.normal_log_prob(where, loc, scale).sum(1)  # (B K,)
        if self.net.symmetric:  # q(theta) is the mixture of the m copies, a turn / m apart
            log_q_where = log_q_where - ORDER.to(loc)[what].log()
        pose = clamp_to_table(where)
        y = render(what, pose, shared_renderer(cfg.render_size, SPEC), eps=cfg.eps, check=False)
        log_lik = log_likelihood(cfg, images, y, weights)  # (B K,)
        step = (log_prior(what, where) - log_q_what[:, 0] - log_q_where)[:, None]  # (B K, 1)
        # K = 1: NVIL's baseline network, fitted to the normalised signal (its raw scale, ~1e4 nats,
        # is out of a small MLP's reach); K > 1: the other samples of the same image as the baseline.
        baseline = self.baseline(x.flatten(1)[:, None]) if K == 1 else None  # (B, 1)
        return est.elbo_surrogate(log_lik, step, log_q_what if learn_what else None, torch.ones_like(step),
                                  baseline, self.normaliser, normalise="before" if K == 1 else "after",
                                  samples=K)


def supervised_loss(net: SceneNet, images: torch.Tensor, identity: torch.Tensor,
                    pose: torch.Tensor, input_size: int = 32, beta: float = 0.0) -> torch.Tensor:
    """-log q(z_true | x): cross-entropy of the type plus the Gaussian NLL of the exact pose.

    The pose target is the raw angle, as in the paper: a network trained this way must predict
    *the* angle even where the object's symmetry makes it unidentifiable (the cube's quarter
    turns). The angle's error is taken on the circle (wrapped to [-pi, pi)), so that 179 and -179
    degrees are 2 degrees apart, not 358. A ``symmetric`` network (AIR's head, reading m theta)
    takes it on the circle of m theta: the cube's four equivalent angles are one target.

    With ``beta > 0`` each component's negative log-likelihood is multiplied by its predicted
    variance to the power ``beta``, held constant (beta-NLL, Seitzer et al. 2022, "On the pitfalls
    of heteroscedastic uncertainty estimation"): the minimiser, mean and variance, is unchanged,
    but a component the network cannot yet predict no longer loses its gradient by widening its
    variance. With the plain NLL (beta = 0) the angle's variance grows to its maximum early in
    training, its mean's gradient shrinks by its square, and the cylinder's angle is not learned.

    Args:
        net: the network.
        images: (B, 3, 128, 128) observed images.
        identity: (B,) true types.
        pose: (B, 3) true poses, raw angles.
        input_size: the network's input side.
        beta: see above (0: the plain negative log-likelihood).

    Returns:
        The batch mean, a scalar.
    """
    logits, loc, scale = net(downsample(images, input_size), identity)
    # the target angle: the copy of the true one nearest the mean, on the circle of theta, or with a symmetric head
    # on the circle of m theta (the m angles a turn / m apart are one label there)
    period = 2 * math.pi / (ORDER.to(loc)[identity][:, None] if net.symmetric else 1)
    target = torch.cat([pose[:, :2], loc[:, 2:] + wrap_angle(pose[:, 2:] - loc[:, 2:], period)], dim=1)
    nll_where = -est.normal_log_prob(target, loc, scale)  # (B, 3)
    if beta:
        nll_where = nll_where * scale.detach() ** (2 * beta)
    nll_where = nll_where.sum(1)
    return (F.cross_entropy(logits, identity, reduction="none") + nll_where).mean()


# ---------------------------------------------------------------------------------------------
# Inference and evaluation


@torch.no_grad()
def infer_network(net: SceneNet, images, input_size: int = 32):
    """The network's most probable scene: argmax type, Gaussian mean pose (on the table).

    Args:
        net: a trained SceneNet (run in eval mode; its mode is restored afterwards).
        images: (B, 3, H, H), see :func:`check_images`; B may be 0.

    Returns:
        identity (B,) long, pose (B, 3) float32.

    Raises:
        TypeError, ValueError: for images that are not valid (see :func:`check_images`).
    """
    images = check_images(images, input_size)
    training = net.training
    try:
        logits, loc, _ = net.eval()(downsample(images, input_size))
    finally:
        net.train(training)
    return logits.argmax(1), clamp_to_table(loc)


def rotation_error(identity: torch.Tensor, truth: torch.Tensor, guess: torch.Tensor) -> torch.Tensor:
    """|theta - theta_true| modulo the object's symmetry period, in radians (NaN for the sphere).

    Returns:
        (B,) errors in [0, period / 2].
    """
    period = torch.tensor([SYMMETRY[OBJECTS[i]] for i in identity.tolist()], dtype=torch.float64)
    d = (guess.double() - truth.double()).remainder(period.clamp(min=1e-9))
    err = torch.minimum(d, period - d)
    return torch.where(period > 0, err, torch.full_like(err, float("nan")))


def _degrees(errors: torch.Tensor):
    """Mean of radian errors in degrees, or None where there are none."""
    return math.degrees(errors.mean().item()) if len(errors) else None


def metrics(identity, pose, images, guess_identity, guess_pose, seconds: float) -> dict:
    """Identity accuracy, position error, rotation error, reconstruction error and time.

    Position error is the distance on the table in units of the table's width; rotation error is
    taken modulo each object's symmetry, over the scenes whose type was inferred correctly and is
    not the sphere; reconstruction error is the mean squared pixel error of the re-rendered
    inference against the observation at 128x128.
    """
    recon = shared_renderer(128, SPEC).render_batch(guess_identity, guess_pose, check=False)
    correct = guess_identity == identity
    pos = (guess_pose[:, :2] - pose[:, :2]).norm(dim=1) / SPEC.table_width
    rot = rotation_error(identity, pose[:, 2], guess_pose[:, 2])
    use = correct & ~torch.isnan(rot)
    per_type = {}
    for i, name in enumerate(OBJECTS):
        m = identity == i
        per_type[name] = {
            "accuracy": correct[m].float().mean().item(),
            "position_error": pos[m].mean().item(),
            "rotation_error_deg": _degrees(rot[m & correct]) if name != "sphere" else None}
    return {
        "scenes": len(identity),
        "identity_accuracy": correct.float().mean().item(),
        "position_error": pos.mean().item(),
        "rotation_error_deg": _degrees(rot[use]),
        "reconstruction_mse": (recon - images).pow(2).mean().item(),
        "seconds_per_image": seconds / len(identity),
        "per_type": per_type,
    }
