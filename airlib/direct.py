"""Direct optimisation of log p(x | z) for one 3D object (Sec. III-A, Fig. 8d), its stability over
random restarts, and the comparison of the three inference methods of Fig. 8 on held-out scenes.

Direct optimisation climbs the likelihood of :mod:`airlib.scene3d` in z_where from a random start,
with the renderer's finite-difference gradients, once per type, and keeps the best type.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from airlib.render import OBJECTS, sample_scenes, shared_renderer
from airlib.render.gradient import render
from airlib.scene3d import (SPEC, TEST_SEED, Objects3DConfig, clamp_to_table, infer_network, log_likelihood, metrics,
                            rotation_error, scenes)


def direct_optimise(image: torch.Tensor, cfg: Objects3DConfig, rng: np.random.Generator):
    """Maximises log p(x | z) over z_where from a random start, once per type; keeps the best.

    Coarse to fine, as in training: the first half of the ``direct_steps`` Adam steps climb the
    wide level of the likelihood alone, the second half the whole pyramid, with the learning rate
    decayed by a cosine to a twentieth. The types compete by the best full likelihood they reach.

    Args:
        image: (3, 128, 128) one observed image.
        cfg: steps, learning rate, likelihood and epsilon.
        rng: draws the starting poses from the prior.

    Returns:
        identity (int), pose (3,) tensor, and the trace of the full log p(x | z) of the best
        type (steps,).
    """
    renderer = shared_renderer(cfg.render_size, SPEC)
    coarse_steps = cfg.direct_steps // 2
    fine_steps = cfg.direct_steps - coarse_steps
    coarse = (1.0,) + (0.0,) * (len(cfg.levels) - 1)
    best = (-math.inf, 0, None, None)
    for identity in range(len(OBJECTS)):
        _, start = sample_scenes(1, SPEC, rng)
        pose = torch.tensor(start, requires_grad=True)  # (1, 3)
        opt = torch.optim.Adam([pose], lr=cfg.direct_lr)
        ident = torch.tensor([identity])
        trace, top = [], (-math.inf, None)
        for step in range(cfg.direct_steps):
            fine = step >= coarse_steps
            if fine:
                t = (step - coarse_steps) / max(fine_steps - 1, 1)
                opt.param_groups[0]["lr"] = cfg.direct_lr * (0.05 + 0.475 * (1 + math.cos(math.pi * t)))
            opt.zero_grad()
            y = render(ident, clamp_to_table(pose), renderer, eps=cfg.eps, check=False)
            full = log_likelihood(cfg, image[None], y)[0]
            (-(full if fine else log_likelihood(cfg, image[None], y, coarse)[0])).backward()
            trace.append(full.item())
            if full.item() > top[0]:
                top = (full.item(), clamp_to_table(pose.detach())[0].float())
            opt.step()
        if top[0] > best[0]:
            best = (top[0], identity, top[1], trace)
    return best[1], best[2], torch.tensor(best[3])


def direct_stability(identity, pose, images, cfg: Objects3DConfig, rng: np.random.Generator) -> dict:
    """Direct optimisation restarted ``cfg.direct_restarts`` times per scene from random starts.

    Args:
        identity, pose, images: the scenes (B,), (B, 3), (B, 3, 128, 128).

    Returns:
        ``restarts``; per scene and restart the inferred ``identity`` (B, R) and errors
        ``position_error`` (B, R, table widths) and ``rotation_error_deg`` (B, R, NaN for spheres
        and wrong types); the summaries ``rotation_spread_deg`` (mean over the rotating scenes
        whose restarts all find the type of the standard deviation over restarts of the rotation
        error), ``position_spread`` (the same for the position error), ``disagree`` (share of
        scenes whose restarts differ in type, or in angle by more than 5 degrees modulo the
        symmetry) and ``wrong_type`` (share of restarts that end with the wrong type).
    """
    runs = [[direct_optimise(images[i], cfg, rng) for _ in range(cfg.direct_restarts)]
            for i in range(len(identity))]
    gi = torch.tensor([[r[0] for r in row] for row in runs])  # (B, R)
    gp = torch.stack([torch.stack([r[1] for r in row]) for row in runs])  # (B, R, 3)
    R = cfg.direct_restarts
    pos = (gp[..., :2] - pose[:, None, :2]).norm(dim=-1) / SPEC.table_width  # (B, R)
    rot = rotation_error(identity.repeat_interleave(R), pose[:, 2].repeat_interleave(R),
                         gp[..., 2].flatten()).view(-1, R)
    rot = torch.where(gi == identity[:, None], torch.rad2deg(rot), torch.full_like(rot, float("nan")))
    same_type = (gi == gi[:, :1]).all(1)
    between = rotation_error(identity.repeat_interleave(R), gp[:, :1, 2].expand(-1, R).flatten(),
                             gp[..., 2].flatten()).view(-1, R)  # (B, R): angle between restarts
    rotating = ~torch.isnan(between).any(1)
    disagree = ~same_type | (rotating & (torch.rad2deg(between) > 5).any(1))
    full = same_type & (gi[:, 0] == identity) & rotating
    return {"restarts": R, "scenes": len(identity), "identity": gi, "position_error": pos,
            "rotation_error_deg": rot,
            "rotation_spread_deg": rot[full].double().std(1).mean().item() if full.any() else None,
            "position_spread": pos[same_type].double().std(1).mean().item() if same_type.any() else None,
            "disagree": disagree.float().mean().item(),
            "wrong_type": (gi != identity[:, None]).float().mean().item()}


def evaluate(nets: dict, cfg: Objects3DConfig, profile_seed: int = TEST_SEED) -> dict:
    """Scores each network, and direct optimisation, on held-out scenes.

    Args:
        nets: name -> trained SceneNet.
        cfg: evaluation sizes.

    Returns:
        name -> metrics dict (see :func:`metrics`), plus the inferences (for the figures).
    """
    identity, pose, images = scenes(cfg.test_scenes, profile_seed)
    out = {}
    n = cfg.direct_scenes
    for name, net in nets.items():
        t = time.perf_counter()
        gi, gp = infer_network(net, images, cfg.input_size)
        out[name] = metrics(identity, pose, images, gi, gp, time.perf_counter() - t)
        out[name]["subset"] = metrics(identity[:n], pose[:n], images[:n], gi[:n], gp[:n], 0.0)
        out[name]["inferred"] = (gi, gp)
    rng = np.random.default_rng(profile_seed + 1)
    t = time.perf_counter()
    found = [direct_optimise(images[i], cfg, rng) for i in range(n)]
    seconds = time.perf_counter() - t
    gi = torch.tensor([f[0] for f in found])
    gp = torch.stack([f[1] for f in found])
    out["direct"] = metrics(identity[:n], pose[:n], images[:n], gi, gp, seconds)
    out["direct"]["inferred"] = (gi, gp)
    out["direct"]["traces"] = torch.stack([f[2] for f in found])
    m = cfg.stability_scenes
    out["stability"] = direct_stability(identity[:m], pose[:m], images[:m], cfg,
                                        np.random.default_rng(profile_seed + 2))
    return out
