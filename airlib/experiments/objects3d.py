"""One 3D object through the MuJoCo renderer (Sec. III-A): the experiments ``3d-air`` and ``3d-supervised``.

``3d-air`` trains :class:`airlib.scene3d.SceneNet` on unlabelled images by the ELBO (N = 1);
``3d-supervised`` trains the same network on the true scene descriptions. Each training step renders
a fresh batch from a generator seeded by (seed, step), so both see the same images and a resumed
run the same stream. :func:`evaluate_all` scores both networks and direct optimisation on the
held-out scenes (the chapter's comparison); its result is the ``3d-results`` artifact.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import direct, runs, scene3d
from ..scene3d import AIRTrainer, Config, SceneNet
from . import Experiment, as_dict, register


@dataclass(frozen=True)
class NetConfig:
    """The network's architecture (the rest of :class:`airlib.scene3d.Config` is training and evaluation)."""
    hidden: int = 256
    input_size: int = 32
    symmetric: bool = False   # q(theta) on the circle of m theta (see SceneNet.pose)


def _configs(symmetric: bool) -> dict:
    return {p: (NetConfig(c.hidden, c.input_size, symmetric), c) for p, c in scene3d.CONFIGS.items()}


class Objects3D(Experiment):
    """Identity and pose of one object; ``method`` is ``"air"`` (ELBO) or ``"supervised"``."""
    success = ("identity_accuracy", 0.9)

    def __init__(self, method: str):
        self.method = method
        self.name = f"3d-{method}"
        self.summary = f"3D single object, {'AIR (N = 1)' if method == 'air' else 'supervised network'}, Sec. III-A"
        self.configs = _configs(symmetric=method == "air")

    def data(self, profile: str) -> dict[str, torch.Tensor]:
        cfg = self.configs[profile][1]
        identity, pose = scene3d.sample_scenes(cfg.test_scenes, scene3d.SPEC, np.random.default_rng(scene3d.TEST_SEED))
        return {"test_identity": torch.from_numpy(identity), "test_pose": torch.from_numpy(pose)}

    def build(self, model_cfg: NetConfig, cfg: Config):
        return (AIRTrainer(cfg, model_cfg.symmetric) if self.method == "air"
                else SceneNet(model_cfg.hidden, model_cfg.input_size, model_cfg.symmetric))

    def lr_scale(self, cfg: Config, step: int) -> float:
        """Cosine decay to a tenth of the learning rate over the run; for AIR, at most ``cfg.fine_lr``
        once the narrow levels of the likelihood are on."""
        cosine = 0.1 + 0.45 * (1 + math.cos(math.pi * min(step, cfg.steps) / cfg.steps))
        return min(cosine, cfg.fine_lr) if self.method == "air" and step >= cfg.fine_start else cosine

    def batch(self, data: dict, cfg: Config, seed: int, step: int):
        torch.manual_seed(seed * 1_000_003 + step)      # the step's samples of z come from the global stream
        return scene3d.scenes(cfg.batch, [seed, step])

    def loss(self, model, batch, cfg: Config, step: int, generator) -> tuple[torch.Tensor, dict]:
        identity, pose, images = batch
        if self.method == "air":
            out = model.loss(images, learn_what=step >= cfg.what_warmup, weights=scene3d.level_weights(cfg, step))
            return out.loss, dict(elbo=out.elbo.mean().item())
        return scene3d.supervised_loss(model, images, identity, pose, cfg.input_size, cfg.supervised_beta), {}

    def evaluate(self, model, data: dict, cfg: Config, step: int, final: bool = False) -> dict:
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
RESULTS = "3d-results"


def evaluate_all(profile: str, nets: dict, out: Path, command: str) -> dict:
    """Scores the networks and direct optimisation on the held-out scenes; writes ``out.{json,safetensors}``.

    Args:
        nets: method name -> trained SceneNet.
        out: the stem to write (under ``runs/``; ``python -m airlib promote`` copies it to ``artifacts/``).

    Returns:
        The record (``metrics`` holds each method's scores).
    """
    from ..train import data_hashes
    cfg = scene3d.config(profile)
    t = time.perf_counter()
    results = direct.evaluate(nets, cfg)
    stability = results.pop("stability")
    per_restart = {k: stability.pop(k) for k in ("identity", "position_error", "rotation_error_deg")}
    inferred = {name: r.pop("inferred") for name, r in results.items()}
    traces = results["direct"].pop("traces")
    results["direct"]["stability"] = stability
    # every inference (the figures pick their scenes; the histogram of angles uses them all)
    tensors = {f"inferred.{n}.identity": i.clone() for n, (i, _) in inferred.items()}
    tensors |= {f"inferred.{n}.pose": p.half().clone() for n, (_, p) in inferred.items()}
    tensors["direct_traces"] = traces.float()
    tensors |= {f"stability.{k}": v.float() for k, v in per_restart.items()}
    data = AIR_3D.data(profile)
    record = dict(experiment=RESULTS, profile=profile, seed=0, model_config=None, train_config=as_dict(cfg),
                  **runs.provenance(torch.device("cpu"), command), wall_time_s=time.perf_counter() - t,
                  finished=True, steps=0, history=[], metrics=results,
                  data_sha256=data_hashes(data), weights_sha256="")
    return runs.save_artifact(out, tensors, record)


def load_results(profile: str, nets: dict | None = None) -> tuple[dict, dict]:
    """The comparison of the chapter: the committed ``3d-results`` (paper), or a fresh one (other profiles).

    Args:
        nets: the networks to evaluate when the profile is not ``paper``.

    Returns:
        ``(metrics, figures)``: metrics per method; figures ``{"inferred": {method: (identity, pose)},
        "direct_traces": (scenes, steps)}``.
    """
    if profile == "paper":
        from ..pretrained import results_record
        record = results_record(RESULTS, scene3d.config(profile))
        _, tensors = runs.load_artifact(runs.artifact_stem(RESULTS, 0))
    else:
        import tempfile
        stem = Path(tempfile.mkdtemp(prefix="airlib-3d-")) / "model"
        record = evaluate_all(profile, nets, stem, f"python -m airlib evaluate-3d --profile {profile}")
        _, tensors = runs.load_artifact(stem)
    methods = sorted({k.split(".")[1] for k in tensors if k.startswith("inferred.")})
    figures = {"inferred": {m: (tensors[f"inferred.{m}.identity"], tensors[f"inferred.{m}.pose"]) for m in methods},
               "direct_traces": tensors["direct_traces"],
               "stability": {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith("stability.")}}
    return record["metrics"], figures
