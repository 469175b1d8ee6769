"""Trained AIR and DAIR models of the paper profile, loaded from ``artifacts/`` and checked.

Each artifact is a pair ``artifacts/<experiment>-seed<S>.pt`` (fp16 weights, reconstructions of fixed
test images saved along training) and ``.json`` (the record: configuration, command, commit,
device, wall time, metrics over training). Loading checks the record against the configuration
the current code would train, so stale weights never load silently.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from .air import AIR, AIRConfig
from .train import ARTIFACTS, MODELS, TRAIN

NAMES = tuple(MODELS)          # "air-multi-mnist", "dair-multi-mnist"
DEFAULT_SEED = 0


class ArtifactError(RuntimeError):
    """A trained artifact is missing or does not match the configuration asked for."""


def artifact_paths(name: str, seed: int = DEFAULT_SEED, directory: Path | None = None) -> tuple[Path, Path]:
    """``(weights .pt, record .json)`` of a trained model."""
    stem = Path(directory or ARTIFACTS) / f"{name}-seed{seed}"
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def available_seeds(name: str, directory: Path | None = None) -> list[int]:
    """Seeds with a committed artifact for ``name``, ascending."""
    seeds = []
    for p in Path(directory or ARTIFACTS).glob(f"{name}-seed*.json"):
        tail = p.stem[len(name) + len("-seed"):]
        if tail.isdigit():
            seeds.append(int(tail))
    return sorted(seeds)


def load_record(name: str, seed: int = DEFAULT_SEED, directory: Path | None = None) -> dict:
    """The JSON record of a trained model, checked against the current configuration.

    Raises:
        ArtifactError: if it is missing or was made with another configuration.
    """
    if name not in MODELS:
        raise ValueError(f"unknown pretrained model {name!r}: expected one of {', '.join(NAMES)}")
    weights, record_path = artifact_paths(name, seed, directory)
    command = f"python -m airlib train {name} --profile paper --seed {seed}"
    if not weights.exists() or not record_path.exists():
        raise ArtifactError(f"no trained artifact {weights.name}; train it with: {command}")
    record = json.loads(record_path.read_text())
    expected = dict(experiment=name, profile="paper", seed=seed, model_config=_jsonable(asdict(MODELS[name]["paper"])),
                    train_config=_jsonable(asdict(TRAIN["paper"])), finished=True)
    for key, value in expected.items():
        if _jsonable(record.get(key)) != value:
            raise ArtifactError(f"{record_path.name} was made with another {key} ({record.get(key)!r}, expected "
                                f"{value!r}); retrain with: {command}")
    return record


def load_pretrained(name: str = "air-multi-mnist", seed: int = DEFAULT_SEED, device: str = "cpu",
                    directory: Path | None = None) -> AIR:
    """A trained model, in evaluation mode.

    Args:
        name: ``"air-multi-mnist"`` or ``"dair-multi-mnist"``.
        seed: which training run (``available_seeds(name)`` lists them).
        device: where to put the model.
        directory: where the artifacts lie (default: the repository's ``artifacts/``).

    Returns:
        An :class:`airlib.air.AIR`; use ``model.infer(images)``. Its ``record`` attribute holds the
        artifact's JSON record, its ``snapshots`` the reconstructions saved during training.

    Raises:
        ArtifactError: if the artifact is missing or its record does not match the configuration.
    """
    record = load_record(name, seed, directory)
    weights, _ = artifact_paths(name, seed, directory)
    blob = torch.load(weights, map_location="cpu", weights_only=False)
    if _jsonable(blob["model_config"]) != _jsonable(record["model_config"]):
        raise ArtifactError(f"{weights.name} and its record disagree on the model configuration")
    cfg = record["model_config"]
    model = AIR(AIRConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}))
    model.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
    model.record, model.snapshots = record, blob.get("snapshots", [])
    return model.to(device).eval()


def _jsonable(x):
    """Tuples as lists, as JSON stores them, so records compare equal to dataclasses."""
    return json.loads(json.dumps(x))
