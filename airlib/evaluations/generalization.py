"""Chapter 3's extrapolation (Sec. II-A, Fig. 6): chapter 2's networks on images of a count they never saw.

``generalization-results`` scores the committed AIR and DAIR of chapter 2 (trained on 0, 1 or 2 digits, seeds
0-4) on held-out images of exactly 3 digits (``data.exact_count_set``), with the same deterministic inference as
their own count accuracy (``experiments.multi_mnist.evaluate_counts``). The interpolation networks (trained on
0, 1 or 3 digits) score their 2-digit images in their own training records.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..profiles import select
from . import Evaluation, Inputs, Need, register

MODELS = {"AIR": "air-multi-mnist", "DAIR": "dair-multi-mnist"}


@dataclass(frozen=True)
class GeneralizationConfig:
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)   # chapter 2's seeds whose weights are committed
    count: int = 3                             # the count never seen in training


STUDY = {"smoke": GeneralizationConfig(seeds=(0,)), "paper": GeneralizationConfig()}


def study_config(profile: str) -> GeneralizationConfig:
    return select(STUDY, profile)


def _data(profile: str) -> dict[str, torch.Tensor]:
    from ..data import exact_count_set
    count = study_config(profile).count
    return {f"exact{count}_images": torch.from_numpy(exact_count_set(profile, count).images)}    # uint8


def compute(inputs: Inputs, profile: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """``metrics[model][seed] = {own, new, q_pres}``: the count accuracy on its own held-out images (from its
    record), on the unseen count, and each step's mean q(z_pres = 1) there. No tensors."""
    from ..experiments.multi_mnist import evaluate_counts
    study = study_config(profile)
    x = _data(profile)[f"exact{study.count}_images"]
    counts = torch.full((len(x),), study.count)
    metrics = {}
    for label, name in MODELS.items():
        metrics[label] = {}
        for s in study.seeds:
            model = inputs.model(name, s)
            ev = evaluate_counts(model, x, counts, model.config.pres_prior)
            metrics[label][str(s)] = dict(own=model.record["metrics"]["test_count_accuracy"],
                                          new=ev["count_accuracy"], q_pres=ev["q_pres"])
    return metrics, {}


GENERALIZATION = register(Evaluation(
    "generalization-results", f"chapter 3: chapter 2's AIR and DAIR (seeds {STUDY['paper'].seeds[0]}-"
    f"{STUDY['paper'].seeds[-1]}) counting images of 3 digits",
    tuple(Need(name, STUDY["paper"].seeds) for name in MODELS.values()), study_config, _data, compute))
