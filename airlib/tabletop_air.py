"""AIR for table-top scenes (Sec. III-B): a plain recurrent network run for N = 3 steps, and its ELBO.

Each step reads the image's features and the previous step's z_pres, z_what and z_where, and
outputs a Bernoulli presence, a Discrete identity over (cup, pan, plate) and a Gaussian pose:

    (omega_pres^i, omega_what^i, omega_where^i, h^i) = R(x, z_pres^{i-1}, z_what^{i-1}, z_where^{i-1}, h^{i-1})

For the moving camera a separate network first infers the camera angle, omega_cam = F(x), and the
sampled z_cam is an input of every step.

A difference network (DAIR, Sec. 3.1: ``difference=True``) reads, instead of x, the error canvas of the
partial reconstruction rendered from the objects it has described so far:

    Delta x^i = x^i - x,   x^i = render(z^{1:i-1}, z_cam),   (omega^i, h^i) = R(Delta x^i, z^{i-1}, h^{i-1})

so every step faces the first step's task (find an object in what is left unexplained), and what the
first step learns about locating an object serves the later ones. The canvas is rendered without a
gradient: the pose of step i-1 reaches step i's distribution only through the z^{i-1} input.

The model is the fixed generative model of Eq. (8) (:mod:`airlib.tabletop_scenes`) rendered by MuJoCo and compared through a blurred Gaussian likelihood;
gradients reach the poses and the camera by finite differences through the renderer
(:mod:`airlib.render.tabletop`) and the discrete choices by the score function with NVIL's
baselines (:mod:`airlib.estimators`), the paper's recipe for its 3D experiments.

Objects are exchangeable in Eq. (8), so the network describes them in the order it chooses, with
AIR's unary presence code (it stops at the first absent step) and the count prior
p(n) = Binomial(N, alpha) that Eq. (8) implies.
"""
from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import numpy as np

import torch
from torch import nn
from torch.nn import functional as F

from . import estimators as est
from .pose import clamp_position, log_uniform_pose, pose_gaussian
from .render.likelihood import check_images, downsample, pyramid_log_likelihood
from .render.tabletop import DEFAULT_EPS, KINDS, TableSpec, TabletopRenderer, render
from .tabletop_scenes import N, ScenePrior, Scenes, count_probs, overlap_log_prior


class TabletopTrace(NamedTuple):
    """A sample (or the most likely value) of q(z | x). present (B, N) float 0/1 (unary); kind (B, N) int64;
    pose (B, N, 3); camera (B,) degrees; and the per-step terms of the ELBO."""
    present: torch.Tensor
    kind: torch.Tensor
    pose: torch.Tensor
    camera: torch.Tensor
    log_q_discrete: torch.Tensor      # (B, N) log q(z_pres^i) + log q(z_what^i), masked
    step_terms: torch.Tensor          # (B, N) log p - log q of step i's latents, masked
    camera_term: torch.Tensor         # (B,) log p(z_cam) - log q(z_cam | x) (0 for a fixed camera)
    baseline_features: torch.Tensor   # (B, N, F) detached: what each step's baseline may see
    log_q: torch.Tensor               # (B,) log q(z | x) of the whole description, the camera's included
    pres_logit: torch.Tensor          # (B, N) the logit of q(z_pres^i = 1 | ...) at each step (floor applied)


class Description(NamedTuple):
    """Scene descriptions as q's steps read them, objects first: present (B, N) 0/1 (unary), kind (B, N) int64 (0
    where absent), pose (B, N, 3), camera (B,) degrees."""
    present: torch.Tensor
    kind: torch.Tensor
    pose: torch.Tensor
    camera: torch.Tensor


ORDERS = ("set", "type")


def descriptions(scenes: Scenes, order: str = "set") -> tuple[Description, torch.Tensor]:
    """The orders in which q may describe each scene's objects, stacked, with their multiplicities.

    ``"set"``: the N! permutations of the slots, each scene's present objects taken first in the permutation's
    order; a scene of n objects meets each of its n! distinct orders N! / n! times, which the returned log
    multiplicity removes from a log-sum-exp. ``"type"``: one canonical order, by type (cup, pan, plate), objects
    of one type left to right (by x).

    Returns:
        ``(description, log_mult)``: the description of batch P * B (order-major) and log_mult (P, B).
    """
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; expected one of {ORDERS}")
    present, kind, pose = (np.asarray(v) for v in scenes[:3])             # (B, N), (B, N), (B, N, 3)
    if order == "set":
        perms = np.array(list(itertools.permutations(range(N))))            # (P, N)
        slots = np.stack([p[np.argsort(~present[:, p], axis=1, kind="stable")] for p in perms])   # (P, B, N)
        n = present.sum(1)
        log_mult = torch.tensor([math.log(math.factorial(N) / math.factorial(int(k))) for k in n])[None]
        log_mult = log_mult.expand(len(perms), -1)
    else:
        key = np.where(present, kind, len(KINDS))                           # absent last
        slots = np.stack([np.lexsort((pose[b, :, 0], key[b])) for b in range(len(present))])[None]   # (1, B, N)
        log_mult = torch.zeros(1, len(present))
    take = lambda a: np.concatenate([np.take_along_axis(a, s[..., None] if a.ndim == 3 else s, 1) for s in slots])  # noqa: E731
    return Description(torch.from_numpy(take(present).astype(np.float32)), torch.from_numpy(take(kind)).clamp(min=0),
                       torch.from_numpy(take(pose).astype(np.float32)),
                       torch.from_numpy(np.tile(np.asarray(scenes.camera, np.float32), len(slots)))), log_mult


def _choose(prev_pres, pres_logit, what_logits, loc, scale, sample: bool, generator, given: Description | None):
    """One step's z_pres (B,), z_what (B,) and z_where (B, 3): the given object (its angle taken nearest q's mean
    on the circle), a sample of q, or q's mode."""
    if given is not None:
        theta = loc[:, 2] + torch.remainder(given.pose[:, 2] - loc[:, 2] + math.pi, 2 * math.pi) - math.pi
        return (given.present.to(loc.dtype) * prev_pres, given.kind.clamp(min=0),
                torch.cat([given.pose[:, :2], theta[:, None]], 1).detach())
    if sample:
        z_pres = est.sample_presence_step(prev_pres, logits=pres_logit, generator=generator)
        what = torch.multinomial(F.softmax(what_logits, 1), 1, generator=generator)[:, 0]
        return z_pres, what, est.normal_rsample(loc, scale, generator)
    return (pres_logit > 0).to(loc.dtype) * prev_pres, what_logits.argmax(1), loc


def encoder(hidden: int) -> nn.Sequential:
    """Takes a 32x32 RGB image to a feature vector of size ``hidden``."""
    return nn.Sequential(nn.Conv2d(3, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
                         nn.Conv2d(64, 64, 3, 1, 1), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 8 * 8, hidden), nn.ReLU())


class TabletopAIR(nn.Module):
    """The inference network R (and F for the moving camera), with its baseline and signal normaliser.

    Args:
        hidden: feature and recurrent state size.
        moving_camera: infer z_cam with F(x) and give it to every step.
        difference: read the error canvas Delta x^i (DAIR) instead of x at every step.
        spec: the scene (placement square, camera range).
        prior: Eq. (8)'s alpha and beta, and sigma_cam.
    """

    def __init__(self, hidden: int = 256, moving_camera: bool = False, spec: TableSpec = TableSpec(),
                 prior: ScenePrior = ScenePrior(), difference: bool = False):
        super().__init__()
        self.hidden, self.moving_camera, self.spec, self.prior = hidden, moving_camera, spec, prior
        self.difference = difference
        self.encoder = encoder(hidden)
        # step input: features, z_pres, one-hot z_what, z_where as (x/p, y/p, cos, sin), z_cam / range, h
        self.cell = nn.Linear(hidden + 1 + len(KINDS) + 4 + 1 + hidden, hidden)
        self.heads = nn.Linear(hidden, 1 + len(KINDS) + 4 + 3)   # presence, identity, where loc (x, y, cos, sin), scale
        self.camera_net = nn.Sequential(encoder(hidden // 2), nn.Linear(hidden // 2, 2)) if moving_camera else None
        self.baseline = est.BaselineMLP(2 * hidden, hidden=64)
        self.normaliser = est.SignalNormaliser(N)
        rho = est.presence_prior_probs(torch.tensor(count_probs(prior)))
        self.register_buffer("rho", rho)                          # (N,) p(n) = Binomial(N, alpha) per step
        self.register_buffer("log_beta", torch.log(torch.tensor(prior.beta)))

    def _camera(self, x: torch.Tensor, sample: bool, generator, given: torch.Tensor | None = None, reps: int = 1):
        """z_cam (R B,) in degrees, log p(z_cam) - log q(z_cam | x) and log q(z_cam | x) (R B,); ``given``: the
        cameras to score instead of a sample, ``reps`` R of them per image (order-major)."""
        if self.camera_net is None:
            return (x.new_zeros(reps * len(x)),) * 3
        out = self.camera_net(x)
        if reps > 1:
            out = out.repeat(reps, 1)                                   # (R B, 2)
        r = self.spec.camera_range
        loc = r * torch.tanh(out[:, 0])
        scale = F.softplus(out[:, 1]) + 0.1
        z = given if given is not None else est.normal_rsample(loc, scale, generator) if sample else loc
        log_q = est.normal_log_prob(z, loc, scale)
        term = est.normal_log_prob(z, 0.0, self.prior.sigma_cam) - log_q
        return z.clamp(-r, r), term, log_q

    def _canvases(self, x: torch.Tensor, camera: torch.Tensor, renderer: TabletopRenderer | None):
        """For a difference network, a function of the steps so far (lists of present (B,), kind (B,), pose (B, 3))
        to the error canvas Delta x^i (B, 3, 32, 32) of their partial reconstruction; None for a plain one.

        Only the scenes whose last step added an object are rendered again; the others keep their canvas."""
        if not self.difference:
            return None
        if renderer is None:
            raise ValueError("a difference network (DAIR) reads the error canvas of its partial reconstruction: "
                             "pass renderer=")
        B, cam = len(x), camera.detach().cpu()
        canvas = None                                                   # (B, 3, 32, 32) the partial reconstruction

        def delta(pres, kind, pose):
            nonlocal canvas
            i = len(pres)
            if i == 0:                                                  # the empty table, once for a fixed camera
                n = 1 if self.camera_net is None else B
                empty = renderer.render_batch(torch.zeros(n, N, dtype=torch.bool), torch.full((n, N), -1),
                                              torch.zeros(n, N, 3), cam[:n], check=False)
                canvas = downsample(empty.to(x), 32).expand(B, -1, -1, -1).clone()
                return canvas - x
            redo = torch.nonzero(pres[-1].detach().cpu() > 0)[:, 0]  # scenes whose step i-1 added an object
            if len(redo):
                present = torch.zeros(len(redo), N, dtype=torch.bool)
                present[:, :i] = torch.stack(pres, 1).detach().cpu()[redo] > 0
                kinds = torch.full((len(redo), N), -1, dtype=torch.int64)
                kinds[:, :i] = torch.stack(kind, 1).detach().cpu()[redo]
                poses = torch.zeros(len(redo), N, 3)
                poses[:, :i] = torch.stack(pose, 1).detach().cpu().float()[redo]
                drawn = renderer.render_batch(present, kinds, poses, cam[redo], check=False)   # (R, 3, S, S)
                canvas[redo.to(x.device)] = downsample(drawn.to(x), 32)
            return canvas - x
        return delta

    def forward(self, images: torch.Tensor, sample: bool = True, generator: torch.Generator | None = None,
                floor: float = 0.0, learn_what: bool = True, renderer: TabletopRenderer | None = None,
                given: "Description | None" = None) -> TabletopTrace:
        """Runs q(z | x) on (B, 3, H, W) images, floats in [0, 1] or uint8 (H = W, a multiple of 32).

        ``given``: a description to score instead of sampling one (:class:`Description`, objects first): every
        step takes its presence, type and pose, and the trace's ``log_q`` is log q(given | x).

        ``floor``: q's presence probability is ``floor + (1 - 2 floor) sigmoid(logit)``, so every step is
        tried at least that often (exploration early in training; the mode is unchanged). ``learn_what`` False:
        q(z_what) is used but not trained (a warm-up while positions are learned, as in chapter 5). ``renderer``:
        the model's renderer, needed by a difference network for its partial reconstructions."""
        if not 0.0 <= floor < 0.5:
            raise ValueError(f"floor must be in [0, 0.5), got {floor!r}")
        x = downsample(check_images(images, 32), 32)                # (B, 3, 32, 32)
        reps = 1 if given is None else len(given.present) // len(x)   # descriptions per image, order-major
        if reps > 1 and self.difference:                            # each description draws its own canvases
            x, reps = x.repeat(reps, 1, 1, 1), 1
        p = self.spec.placement_half_width
        camera, camera_term, camera_log_q = self._camera(x, sample, generator, None if given is None else given.camera,
                                                         reps)
        delta = self._canvases(x, camera, renderer)
        feat = self.encoder(x if delta is None else delta([], [], []))   # (B, hidden)
        if reps > 1:
            feat = feat.repeat(reps, 1)                             # (R B, hidden): one encoding per image
        B = len(feat)
        h = feat.new_zeros(B, self.hidden)
        prev_pres, prev_what = feat.new_ones(B), feat.new_zeros(B, len(KINDS))
        prev_where = feat.new_zeros(B, 4)
        logits, pres, kind, pose, object_terms, log_q_what, log_q_where, base_in = [], [], [], [], [], [], [], []
        log_pose = log_uniform_pose(p)                              # log p(z_where), uniform
        for i in range(N):
            if delta is not None and i > 0:                         # Delta x^{i+1}: objects 1..i rendered
                feat = self.encoder(delta(pres, kind, pose))
            base_in.append(torch.cat([feat, h], 1).detach())
            inp = torch.cat([feat, prev_pres[:, None], prev_what, prev_where, (camera / self.spec.camera_range)[:, None], h], 1)
            h = torch.tanh(self.cell(inp))                          # (B, hidden)
            out = self.heads(h)
            pres_logit, what_logits = out[:, 0], out[:, 1:1 + len(KINDS)]
            if not learn_what:
                what_logits = what_logits.detach()
            if floor > 0:                                           # the logit of floor + (1 - 2 floor) sigmoid(logit)
                pres_logit = torch.logaddexp(pres_logit + math.log(1 - floor), torch.tensor(math.log(floor))) \
                    - torch.logaddexp(torch.tensor(math.log(1 - floor)), pres_logit + math.log(floor))
            loc, scale = pose_gaussian(out[:, 4:11], p, "clamp")    # (B, 3) each
            z_pres, what, where = _choose(prev_pres, pres_logit, what_logits, loc, scale, sample, generator,
                                          None if given is None else Description(*(v[:, i] for v in given[:3]), None))
            log_q_what.append(F.log_softmax(what_logits, 1).gather(1, what[:, None])[:, 0])
            # log p(z_what) + log p(z_where | earlier objects) - log q(z_where): a uniform position on the square
            # and rotation, away from the objects already placed (overlap_log_prior)
            clamped = clamp_position(where, p)
            earlier = (torch.stack(pose, 1)[..., :2] if pose else clamped.new_zeros(B, 0, 2),
                       torch.stack(kind, 1) if kind else what.new_zeros(B, 0),
                       torch.stack(pres, 1) if pres else clamped.new_zeros(B, 0))
            log_q_where.append(est.normal_log_prob(where, loc, scale).sum(1))
            object_terms.append(self.log_beta[what] + log_pose
                                + overlap_log_prior(clamped[:, :2], what, *earlier, self.prior.overlap_nats)
                                - log_q_where[-1])
            logits.append(pres_logit)
            pres.append(z_pres)
            kind.append(what)
            pose.append(clamped)
            prev_pres, prev_what = z_pres, F.one_hot(what, len(KINDS)).to(feat.dtype) * z_pres[:, None]
            prev_where = torch.stack([clamped[:, 0] / p, clamped[:, 1] / p, torch.cos(clamped[:, 2]),
                                      torch.sin(clamped[:, 2])], 1) * z_pres[:, None]
        z_pres = torch.stack(pres, 1)                                                  # (B, N) unary
        objects = est.object_mask(z_pres)
        log_q_pres = est.presence_log_prob(z_pres, logits=torch.stack(logits, 1))      # masked by step_mask
        log_p_pres = est.presence_log_prob(z_pres, probs=self.rho.expand_as(z_pres))   # p(n) = Binomial(N, alpha)
        log_q_what = torch.stack(log_q_what, 1) * objects
        step_terms = log_p_pres - log_q_pres + (torch.stack(object_terms, 1) - log_q_what) * objects
        log_q = (log_q_pres + log_q_what + torch.stack(log_q_where, 1) * objects).sum(1) + camera_log_q
        return TabletopTrace(z_pres, torch.stack(kind, 1), torch.stack(pose, 1), camera, log_q_pres + log_q_what,
                             step_terms, camera_term, torch.stack(base_in, 1), log_q, torch.stack(logits, 1))

    def loss(self, images: torch.Tensor, renderer: TabletopRenderer, sigma_x: float, levels, eps=DEFAULT_EPS,
             weights=None, generator: torch.Generator | None = None, floor: float = 0.0, learn_what: bool = True,
             pose_levels=None):
        """The ELBO surrogate of a batch of unlabelled images (Eqs. 3, 6, 7):

            ELBO = log p(x | z) + log p(z_cam) - log q(z_cam | x)
                   + sum_i [log p(z_pres^i) - log q(z_pres^i | ...)] + sum_{i <= n} [log p(z_what^i, z_where^i) - log q(...)]

        ``pose_levels``: if given, the pathwise gradient (poses and camera, through the renderer's finite
        differences) follows the ELBO whose likelihood has these blur levels instead, while the score
        function's learning signal (presence and types) and the returned ELBO keep ``levels``: a wide blur
        for the discrete choices, whose basin tolerates a misplaced object, and a narrower one for where it
        stands, whose gradient a small object still feels. Two objectives, not one ELBO's gradient.

        Returns:
            ``(est.Surrogate(loss, elbo, signal), inference)``.
        """
        q = self(images, sample=True, generator=generator, floor=floor, learn_what=learn_what, renderer=renderer)
        kind = torch.where(q.present > 0, q.kind, torch.full_like(q.kind, -1))
        y = render(q.present > 0, kind, q.pose, q.camera, renderer, eps, check=False)     # (B, 3, H, W)
        log_lik = pyramid_log_likelihood(images, y, sigma_x, levels, weights)           # (B,)
        pose_lik = None if pose_levels is None else pyramid_log_likelihood(images, y, sigma_x, pose_levels)
        # NVIL as in chapter 5: the signal (~1e4 nats) is normalised before the baseline is fitted to it;
        # the camera is drawn before every step, so its term is in the ELBO but in no step's signal
        s = est.elbo_surrogate(log_lik, q.step_terms, q.log_q_discrete, est.step_mask(q.present),
                               self.baseline(q.baseline_features), self.normaliser, normalise="before",
                               fixed_terms=q.camera_term, pathwise_log_lik=pose_lik)
        return s, q

    def sleep_loss(self, images: torch.Tensor, scenes: Scenes, order: str = "set",
                   renderer: TabletopRenderer | None = None) -> tuple[torch.Tensor, dict]:
        """The sleep phase (wake-sleep, Hinton et al. 1995; Le et al. 2019): -log q(z | x) on scenes drawn from the
        model of Eq. (8), rendered, with their true descriptions z. Objects are exchangeable, so with ``order``
        "set" q is scored on the set of the scene's n objects,

            log q({z^1, ..., z^n} | x) = log sum_{orders pi} q(z^{pi(1)}, ..., z^{pi(n)}, z_cam | x),

        and with "type" on one canonical order (:func:`descriptions`). No render of q's guesses and no finite
        differences: the gradient is that of a log density at known values.

        Args:
            images: (B, 3, H, W) the scenes rendered.
            scenes: their descriptions (numpy, slots in any order).
            renderer: the model's renderer, for a difference network's partial reconstructions.

        Returns:
            ``(loss, info)``: the mean of -log q over the batch, and ``log_q`` its negation as a float.
        """
        d, log_mult = descriptions(scenes, order)                        # (P * B, ...), (P, B)
        P = len(log_mult)
        q = self(images, sample=False, renderer=renderer, given=d)
        log_set = torch.logsumexp(q.log_q.view(P, -1) - log_mult.to(q.log_q), 0)      # (B,)
        return -log_set.mean(), dict(log_q=log_set.mean().item())

    def wake_loss(self, images: torch.Tensor, renderer: TabletopRenderer, sigma_x: float, levels, particles: int,
                  generator: torch.Generator | None = None, floor: float = 0.0,
                  discrete_only: bool = False) -> tuple[torch.Tensor, dict]:
        """The wake phase of q in reweighted wake-sleep (Le et al. 2019) on unlabelled images: K descriptions drawn
        from a proposal q' and weighted by the model,

            w_k = p(x | z_k) p(z_k) / q'(z_k | x),   loss = -sum_k (w_k / sum_j w_j) log q(z_k | x),

        the weights held fixed, so q moves towards the model's posterior without a gradient through the renderer
        (K renders per image, no finite differences). q' is q with its presence probabilities kept in
        [floor, 1 - floor] (``forward``'s floor): a q that is sure of a wrong count still proposes the other counts,
        and the weights, which divide by q', judge them; floor 0 is q itself.

        Args:
            images: (B, 3, H, W) the data.
            renderer: the model's renderer; sigma_x, levels: its likelihood (:func:`pyramid_log_likelihood`).
            particles: K >= 1, the descriptions drawn per image.
            floor: the proposal's presence floor, in [0, 0.5).
            discrete_only: train only q's presence and type on the weighted draws (log q(z_pres) + log q(z_what)
                in the loss); the poses and the camera learn from the sleep phase alone.

        Returns:
            ``(loss, info)``: info has ``log_w``, the mean over images of log (1/K) sum_k w_k (an importance-weighted
            bound on log p(x)), and ``ess``, the mean effective sample size of the weights, in [1, K].
        """
        if isinstance(particles, bool) or not isinstance(particles, int) or particles < 1:
            raise ValueError(f"particles must be a positive int, got {particles!r}")
        x = check_images(images, 32).repeat(particles, 1, 1, 1)                 # (K B, 3, H, W), particle-major
        with torch.no_grad():
            z = self(x, sample=True, generator=generator, floor=floor, renderer=renderer)
            d = Description(z.present, z.kind * (z.present > 0), z.pose, z.camera)
            log_proposal = self(x, sample=False, floor=floor, renderer=renderer, given=d).log_q if floor else None
        q = self(x, sample=False, renderer=renderer, given=d)                    # log q(z_k | x) with z_k fixed
        kind = torch.where(z.present > 0, z.kind, torch.full_like(z.kind, -1))
        y = renderer.render_batch(z.present > 0, kind, z.pose, z.camera, check=False)
        log_p = q.step_terms.sum(1) + q.camera_term + q.log_q                   # log p(z_k): the terms are log p - log q
        log_w = (pyramid_log_likelihood(x, y.to(x), sigma_x, levels) + log_p
                 - (q.log_q if log_proposal is None else log_proposal)).detach().view(particles, -1)   # (K, B)
        w = torch.softmax(log_w, 0)                                              # (K, B)
        trained = q.log_q_discrete.sum(1) if discrete_only else q.log_q                 # (K B,)
        loss = -(w * trained.view(particles, -1)).sum(0).mean()
        bound = torch.logsumexp(log_w, 0) - math.log(particles)
        return loss, dict(log_w=bound.mean().item(), ess=(1.0 / (w ** 2).sum(0)).mean().item())

