"""The experiment registry: every trained model of the book is an :class:`Experiment` here.

An experiment declares its configurations per profile, its data, how to build its model, its
training loss and its evaluation; the one training loop (:mod:`airlib.train`) and the one loader
(:mod:`airlib.pretrained`) do the rest. Experiments register themselves when their module is
imported; :func:`get` imports the modules listed in ``MODULES`` on first use.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, fields, is_dataclass, replace
from typing import Any

import torch
from torch import nn

from ..profiles import PROFILES, check
from ..registry import Registry

MODULES = ("airlib.experiments.multi_mnist", "airlib.experiments.baselines", "airlib.experiments.objects3d",
           "airlib.experiments.tabletop")
# a module imported again registers its experiments anew: the same class under one name is no clash
_REGISTRY = Registry("experiment", MODULES, same=lambda a, b: type(a) is type(b))


class Experiment:
    """One trainable model family. Subclasses set the attributes and override the methods.

    Attributes:
        name: the experiment's name, as on the command line.
        configs: profile -> (model configuration, training configuration), frozen dataclasses.
            The training configuration has at least ``steps``, ``lr``, ``log_every``, ``clip`` and
            ``checkpoint_seconds``.
        success: (metric, threshold): a finished run whose final ``metrics[metric]`` is below the
            threshold failed (the loader warns, ``list`` says so).
        weights_committed: seeds whose weights the book uses (others: the record alone).
    """
    name: str = ""
    configs: dict[str, tuple[Any, Any]] = {}
    success: tuple[str, float] | None = None
    summary: str = ""
    # True when nothing in training reads the configured number of steps (a constant learning rate, every
    # schedule by absolute step): a finished run then continues to a larger ``steps`` from its checkpoint
    # and gives bit for bit the model of a run started with that many steps (airlib.train).
    extendable: bool = False
    # ``train_config`` fields of ``((step, value), ...)`` acting from their step on (e.g. ``lr_drops``): an
    # extendable run also continues when they change only at steps its checkpoint has not trained yet.
    schedules: tuple[str, ...] = ()
    # seeds this experiment accepts are [0, max_seed): one whose streams multiply the seed lowers it
    max_seed: int = 2**63 - 1

    # ------------------------------------------------------------- declared by each experiment
    def data(self, profile: str) -> dict[str, torch.Tensor]:
        """The exact tensors the run trains and is evaluated on, by split name (hashed in the record)."""
        raise NotImplementedError

    def build(self, model_cfg, train_cfg) -> nn.Module:
        """A fresh model (the global torch seed is set by the loop before this call)."""
        raise NotImplementedError

    def batch(self, data: dict, cfg, seed: int, step: int):
        """The training batch of ``step``: a function of (data, seed, step) alone, so resumes repeat it."""
        raise NotImplementedError

    def loss(self, model: nn.Module, batch, cfg, step: int, generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        """The scalar to minimise and a dict of floats for the progress bar."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, data: dict, cfg, step: int, final: bool = False) -> dict:
        """Metrics (floats) of the model: on a subset during training, on everything when ``final``."""
        raise NotImplementedError

    # ------------------------------------------------------------- defaults
    def optimiser(self, model: nn.Module, cfg) -> torch.optim.Optimizer:
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)

    def lr_scale(self, cfg, step: int) -> float:
        """Multiplier of every group's initial learning rate at ``step``."""
        return 1.0

    def figures(self, model: nn.Module, data: dict, cfg, step: int) -> dict[str, torch.Tensor]:
        """Tensors kept for the book's figures at ``step`` (e.g. reconstructions along training)."""
        return {}

    def public(self, model: nn.Module) -> nn.Module:
        """The part of the trained module that users get from ``load_pretrained``."""
        return model

    def command(self, profile: str, seed: int) -> str:
        return f"python -m airlib train {self.name} --profile {profile} --seed {seed}"

    def failed(self, record: dict) -> bool:
        """Whether a finished run missed the experiment's success threshold."""
        if self.success is None or not record.get("metrics") or record.get("profile") != "paper":
            return False      # smoke runs are not expected to reach the paper's numbers
        metric, threshold = self.success
        return record["metrics"].get(metric, 0.0) < threshold


@contextmanager
def eval_mode(model: nn.Module):
    """The model in evaluation mode for a block (evaluations and figures during training), then back in
    the mode it was in."""
    was = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was)


def register(experiment: Experiment) -> Experiment:
    """Adds an experiment to the registry (each name once)."""
    return _REGISTRY.register(experiment.name, experiment)


def names() -> list[str]:
    """Every registered experiment's name."""
    return _REGISTRY.names()


def get(name: str) -> Experiment:
    """The experiment called ``name``, with an error listing the known ones."""
    return _REGISTRY.get(name)


def config(name: str, profile: str, overrides: dict | None = None) -> tuple[Any, Any]:
    """``(model_config, train_config)`` of an experiment under a profile.

    Args:
        overrides: ``{"model.field": value, "train.field": value}`` (ablations and sweeps).
    """
    check(profile)
    exp = get(name)
    if profile not in exp.configs:
        raise ValueError(f"{name} has no {profile!r} configuration; known: {', '.join(exp.configs)}")
    model_cfg, train_cfg = exp.configs[profile]
    for key, value in (overrides or {}).items():
        part, _, field = key.partition(".")
        target = {"model": model_cfg, "train": train_cfg}.get(part)
        if target is None or field not in {f.name for f in fields(target)}:
            raise ValueError(f"unknown override {key!r}: use model.<field> or train.<field> of "
                             f"{type(model_cfg).__name__} / {type(train_cfg).__name__}")
        value = tuple(value) if isinstance(value, list) else value
        if part == "model":
            model_cfg = replace(model_cfg, **{field: value})
        else:
            train_cfg = replace(train_cfg, **{field: value})
    return model_cfg, train_cfg


def as_dict(cfg) -> dict:
    """A configuration dataclass as the JSON dict a record stores (tuples as lists)."""
    import json
    return json.loads(json.dumps(asdict(cfg) if is_dataclass(cfg) else cfg))


def settings(parts: dict):
    """Configurations as the table a chapter shows (not their repr): one row per field, indexed by (part, field);
    ``parts`` maps a name ("model", "training") to a configuration dataclass. Booleans read "yes"/"no"."""
    import pandas as pd
    words = {True: "yes", False: "no", None: "none"}
    return pd.concat({part: pd.Series({k: words[v] if isinstance(v, bool) or v is None else str(v)
                                       for k, v in as_dict(cfg).items()}, name="value")
                      for part, cfg in parts.items()}, names=["part", "field"]).to_frame()


__all__ = ["Experiment", "eval_mode", "register", "get", "names", "config", "as_dict", "settings", "PROFILES"]
