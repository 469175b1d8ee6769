"""One 3D object through the MuJoCo renderer (Sec. III-A): the experiments ``3d-air`` and ``3d-supervised``.

``3d-air`` trains :class:`airlib.scene3d.SceneNet` on unlabelled images by the ELBO (N = 1);
``3d-supervised`` trains the same network on the true scene descriptions. AIR reads the angle on the
circle of m theta (``symmetric``), the supervised network on the circle of theta; the matched pairs, the
paper's identical networks, are ``3d-air-plain`` (AIR with the supervised network's head) and
``3d-supervised-symmetric`` (the supervised network with AIR's). Each training step renders
a fresh batch from a generator seeded by (seed, step), so both see the same images and a resumed
run the same stream. The chapter's comparison of both networks and direct optimisation is the
study ``3d-results`` (:mod:`airlib.evaluations.objects3d`).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from .. import scene3d
from ..scene3d import ObjectAIR, Objects3DConfig, SceneNet
from . import Experiment, register


@dataclass(frozen=True)
class NetConfig:
    """The network's architecture (the rest of :class:`airlib.scene3d.Objects3DConfig` is training and evaluation)."""
    hidden: int = 256
    input_size: int = 32
    symmetric: bool = False   # q(theta) on the circle of m theta (see SceneNet.pose)


def _configs(symmetric: bool) -> dict:
    return {p: (NetConfig(c.hidden, c.input_size, symmetric), c) for p, c in scene3d.CONFIGS.items()}


SEED_STRIDE = 1_000_003     # step t of seed s draws its samples of z from the global stream seeded s * stride + t


class Objects3D(Experiment):
    """Identity and pose of one object; ``method`` is ``"air"`` (ELBO) or ``"supervised"``."""
    success = ("identity_accuracy", 0.9)
    max_seed = (2**63 - 1) // SEED_STRIDE

    def __init__(self, method: str, symmetric: bool | None = None):
        native = method == "air"                       # each method's own head: AIR symmetric, supervised plain
        symmetric = native if symmetric is None else symmetric
        self.method = method
        self.name = f"3d-{method}" + ("" if symmetric == native else "-symmetric" if symmetric else "-plain")
        head = "angle on the circle of m theta" if symmetric else "angle on the circle of theta"
        self.summary = (f"3D single object, {'AIR (N = 1)' if method == 'air' else 'supervised network'}, {head}, "
                        "Sec. III-A")
        self.configs = _configs(symmetric)

    def data(self, profile: str) -> dict[str, torch.Tensor]:
        cfg = self.configs[profile][1]
        identity, pose = scene3d.sample_scenes(cfg.test_scenes, scene3d.SPEC, np.random.default_rng(scene3d.TEST_SEED))
        return {"test_identity": torch.from_numpy(identity), "test_pose": torch.from_numpy(pose)}

    def build(self, model_cfg: NetConfig, cfg: Objects3DConfig):
        return (ObjectAIR(cfg, model_cfg.symmetric) if self.method == "air"
                else SceneNet(model_cfg.hidden, model_cfg.input_size, model_cfg.symmetric))

    def lr_scale(self, cfg: Objects3DConfig, step: int) -> float:
        """Cosine decay to a tenth of the learning rate over the run; for AIR, at most ``cfg.fine_lr``
        once the narrow levels of the likelihood are on."""
        cosine = 0.1 + 0.45 * (1 + math.cos(math.pi * min(step, cfg.steps) / cfg.steps))
        return min(cosine, cfg.fine_lr) if self.method == "air" and step >= cfg.fine_start else cosine

    def batch(self, data: dict, cfg: Objects3DConfig, seed: int, step: int):
        torch.manual_seed(seed * SEED_STRIDE + step)    # the step's samples of z come from the global stream
        return scene3d.scenes(cfg.batch, [seed, step])

    def loss(self, model, batch, cfg: Objects3DConfig, step: int, generator) -> tuple[torch.Tensor, dict]:
        identity, pose, images = batch
        if self.method == "air":
            out = model.loss(images, learn_what=step >= cfg.what_warmup, weights=scene3d.level_weights(cfg, step))
            return out.loss, dict(elbo=out.elbo.mean().item())
        return scene3d.supervised_loss(model, images, identity, pose, cfg.input_size, cfg.supervised_beta), {}

    def evaluate(self, model, data: dict, cfg: Objects3DConfig, step: int, final: bool = False) -> dict:
        n = len(data["test_identity"]) if final else min(100, len(data["test_identity"]))
        identity, pose = data["test_identity"][:n], data["test_pose"][:n]
        images = _render(identity, pose)
        t = time.perf_counter()
        gi, gp = scene3d.infer_network(self.public(model), images, cfg.input_size)
        m = scene3d.metrics(identity, pose, images, gi, gp, time.perf_counter() - t)
        return {k: v for k, v in m.items() if k != "per_type"} | ({"per_type": m["per_type"]} if final else {})

    def public(self, model):
        return model.net if self.method == "air" else model


def _render(identity: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    return scene3d.shared_renderer(128, scene3d.SPEC).render_batch(identity, pose)


AIR_3D = register(Objects3D("air"))
SUPERVISED_3D = register(Objects3D("supervised"))
AIR_3D_PLAIN = register(Objects3D("air", symmetric=False))                # the supervised network's head
SUPERVISED_3D_SYMMETRIC = register(Objects3D("supervised", symmetric=True))   # AIR's head
