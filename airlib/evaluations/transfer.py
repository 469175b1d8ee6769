"""Chapter 6's data that leave the model (Sec. III-B, "random colour and size perturbations"): ``tabletop-transfer``.

Every network is scored on the same held-out scenes (``tabletop-air``'s), rendered plainly and rendered with fresh
colour and size perturbations (:func:`airlib.experiments.tabletop.perturbed_images`): the paper's recipe trained on
plain and on perturbed renders, and over seeds the three ways to train q of reweighted wake-sleep: the sleep
phase alone (the model's own scenes, which are never perturbed), the wake phase alone (the perturbed data, no
labels) and both.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import experiments
from ..experiments import tabletop as T
from ..profiles import select
from . import Evaluation, Inputs, Need, register
from .tabletop import scenes_tensors

PAPER = {"paper's recipe, plain training": "tabletop-air", "paper's recipe, perturbed training": "tabletop-air-perturbed"}
PHASES = {"sleep alone": "tabletop-air-sleep-type", "wake alone": "tabletop-air-wake-perturbed",
          "wake + sleep": "tabletop-air-wake-sleep-perturbed"}
SCENES = ("plain scenes", "perturbed scenes")


@dataclass(frozen=True)
class TransferConfig:
    seed: int = 0                          # the perturbations' stream (tabletop-results' earlier stream 12)
    seeds: tuple[int, ...] = (0, 1, 2)     # the seeds of each wake-sleep variant


STUDY = {"smoke": TransferConfig(seeds=(0,)), "paper": TransferConfig()}


def study_config(profile: str) -> TransferConfig:
    return select(STUDY, profile)


def scored(model, truth, images: dict[str, torch.Tensor], renderer) -> dict:
    """``{scenes label: {count, identity, position}}`` of one network on each rendering of the scenes."""
    out = {}
    for label, x in images.items():
        guess = T.air_infer(model, x)
        s = T.score(truth, guess, x, renderer.render_batch(*guess))
        out[label] = dict(count=s["count_accuracy"], identity=s["identity_accuracy"], position=s["position_error"])
    return out


def compute(inputs: Inputs, profile: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """``metrics[network][seed][scenes] = {count, identity, position}``; tensors: the seed-0 inferences of every
    wake-sleep variant on the perturbed scenes."""
    cfg, study = experiments.config("tabletop-air", profile)[1], study_config(profile)
    renderer = T.renderer(cfg.render_size)
    truth = T.held_out(experiments.get("tabletop-air").data(profile))
    images = dict(zip(SCENES, (renderer.render_batch(*truth),
                               T.perturbed_images(truth, np.random.default_rng([study.seed, 12]), cfg.render_size))))
    metrics, tensors = {}, {}
    for label, name in PAPER.items():
        metrics[label] = {"0": scored(inputs.model(name), truth, images, renderer)}
    for label, name in PHASES.items():
        metrics[label] = {str(s): scored(inputs.model(name, s), truth, images, renderer) for s in study.seeds}
        tensors |= scenes_tensors(name, T.air_infer(inputs.model(name, 0), images["perturbed scenes"]))
    return metrics, tensors


def _data(profile: str) -> dict[str, torch.Tensor]:
    return experiments.get("tabletop-air").data(profile)


TRANSFER = register(Evaluation(
    "tabletop-transfer", "chapter 6: the paper's recipe and reweighted wake-sleep (sleep, wake, both) on plain and "
    "perturbed renders of the same held-out scenes",
    tuple(Need(name) for name in PAPER.values())
    + tuple(Need(name, STUDY["paper"].seeds) for name in PHASES.values()), study_config, _data, compute))
