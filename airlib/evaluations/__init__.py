"""The evaluation registry: studies that score trained runs, recorded like a training run.

An :class:`Evaluation` declares its name, the trained runs it reads (:class:`Need`), its configuration per
profile, the data it scores (for the record's ``data_sha256``) and ``compute(inputs, profile) -> (metrics,
tensors)``. :func:`evaluate` runs it and writes its record and tensors through the run layer
(``runs/<name>-<profile>/model.{json,safetensors}``; ``python -m airlib promote`` copies a paper run into
``artifacts/``); :func:`load` reads the committed one (paper profile) or computes one now (other profiles),
so a chapter reads results the same way under every profile. Evaluations register themselves when their
module is imported, as experiments do.
"""
from __future__ import annotations

import inspect
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from .. import runs
from ..profiles import check
from ..registry import Registry

MODULES = ("airlib.evaluations.generalization", "airlib.evaluations.objects3d", "airlib.evaluations.representations",
           "airlib.evaluations.tabletop", "airlib.evaluations.toy", "airlib.evaluations.transfer")
# a module imported again registers its studies anew: the same compute function under one name is no clash
_REGISTRY = Registry("evaluation", MODULES,
                     same=lambda a, b: (a.compute.__module__, a.compute.__qualname__) == (b.compute.__module__,
                                                                                          b.compute.__qualname__))


@dataclass(frozen=True)
class Need:
    """Trained runs an evaluation reads: an experiment, its seeds, whether their weights (or records only), and
    the label its record's ``model_config`` files them under (default ``<experiment>-seed<S>``)."""
    experiment: str
    seeds: tuple[int, ...] = (0,)
    weights: bool = True
    label: str | None = None


@dataclass(frozen=True)
class Evaluation:
    """One recorded study.

    Attributes:
        name: the study's name, as on the command line and in ``artifacts/<name>-seed0.*``.
        summary: one line for ``python -m airlib list``.
        needs: the trained runs it reads.
        config: profile -> the study's frozen configuration (stored as the record's ``train_config``).
        data: profile -> the tensors it scores, by split (hashed into ``data_sha256``).
        compute: ``(Inputs, profile, **options) -> (metrics, tensors)``; metrics JSON-able, tensors for the
            figures.
    """
    name: str
    summary: str
    needs: tuple[Need, ...]
    config: Callable[[str], Any]
    data: Callable[[str], dict]
    compute: Callable[..., tuple[dict, dict[str, torch.Tensor]] | None]

    def command(self, profile: str) -> str:
        return f"python -m airlib evaluate {self.name} --profile {profile}"


class Inputs:
    """The trained runs of an evaluation under a profile: committed ones (paper), or trained now (others).

    Models and records are loaded on first use and kept, so a study that reads one network twice loads it once.
    """

    def __init__(self, profile: str, directory: Path | None = None):
        self.profile, self.directory = profile, directory
        self._models: dict[tuple[str, int], Any] = {}

    def model(self, experiment: str, seed: int = 0):
        """The trained model (with ``.record``), as :func:`airlib.pretrained.load_or_train` gives it."""
        from ..pretrained import load_or_train
        key = (experiment, seed)
        if key not in self._models:
            self._models[key] = load_or_train(experiment, self.profile, seed, directory=self.directory)
        return self._models[key]

    def record(self, experiment: str, seed: int = 0) -> dict:
        """A run's record, without loading its weights under the paper profile."""
        from ..pretrained import load_record
        if self.profile == "paper" and (experiment, seed) not in self._models:
            return load_record(experiment, seed, self.directory)
        return self.model(experiment, seed).record

    def records(self, experiment: str) -> dict[int, dict]:
        """Every committed seed's record (paper); under other profiles, seed 0's record of the model made now."""
        from ..pretrained import seed_records
        if self.profile == "paper":
            return seed_records(experiment, self.profile, directory=self.directory)
        return {0: self.model(experiment, 0).record}


def register(evaluation: Evaluation) -> Evaluation:
    """Adds an evaluation to the registry (each name once)."""
    return _REGISTRY.register(evaluation.name, evaluation)


def names() -> list[str]:
    """Every registered evaluation's name."""
    return _REGISTRY.names()


def get(name: str) -> Evaluation:
    """The evaluation called ``name``, with an error listing the known ones."""
    return _REGISTRY.get(name)


def evaluate(name: str, profile: str = "paper", out: Path | None = None, inputs: Inputs | None = None,
             **options) -> dict | None:
    """Runs an evaluation and writes its record and tensors to ``out`` (default ``runs/<name>-<profile>/model``).

    Args:
        options: passed to the study's ``compute`` (e.g. ``jobs``); a study that computed only part of its
            result (``only=...``) returns None and no record is written.

    Returns:
        The record as written (its ``metrics`` are what ``compute`` returned), or None.
    """
    from ..experiments import as_dict
    check(profile)
    ev = get(name)
    known = set(inspect.signature(ev.compute).parameters) - {"inputs", "profile"}
    if set(options) - known:
        raise ValueError(f"{name} takes no option {', '.join(sorted(set(options) - known))}"
                         f" (its options: {', '.join(sorted(known)) or 'none'})")
    inputs = inputs or Inputs(profile)
    out = Path(out or runs.RUNS / f"{name}-{profile}" / "model")
    t = time.perf_counter()
    result = ev.compute(inputs, profile, **options)
    if result is None:
        return None
    metrics, tensors = result
    sources = {m.label or f"{m.experiment}-seed{s}": dict(experiment=m.experiment, seed=s,
                                                       **{k: r.get(k) for k in ("weights_sha256", "wall_time_s")})
               for m in ev.needs for s, r in _needed_records(inputs, m).items()}
    record = dict(experiment=name, profile=profile, seed=0, model_config=sources, train_config=as_dict(ev.config(profile)),
                  **runs.provenance(torch.device("cpu"), ev.command(profile)), wall_time_s=time.perf_counter() - t,
                  finished=True, steps=0, history=[], metrics=metrics,
                  data_sha256=runs.data_hashes(ev.data(profile)), weights_sha256="")
    return runs.save_artifact(out, tensors, record)


def _needed_records(inputs: Inputs, need: Need) -> dict[int, dict]:
    if need.weights or inputs.profile != "paper":
        return {s: inputs.model(need.experiment, s).record for s in need.seeds if inputs.profile == "paper" or s == 0}
    return {s: r for s, r in inputs.records(need.experiment).items() if s in need.seeds}


def check_record(name: str, record: dict, data: bool = True) -> list[str]:
    """What makes a study's record stale: a list of problems (empty when it matches today's code and data)."""
    from ..pretrained import config_changes
    ev = get(name)
    problems = []
    changes = config_changes(record.get("train_config"), ev.config(record.get("profile", "paper")))
    if changes:
        problems.append(f"its configuration differs from today's ({', '.join(changes)})")
    if data and record.get("data_sha256") != runs.data_hashes(ev.data(record.get("profile", "paper"))):
        problems.append("it scored other data than the code generates today (data_sha256 differs)")
    return problems


def load(name: str, profile: str, inputs: Inputs | None = None, directory: Path | None = None
         ) -> tuple[dict, dict[str, torch.Tensor]]:
    """``(record, tensors)`` of a study: the committed one under the paper profile (checked against today's
    configuration, refused naming the command that redoes it), one computed now under any other profile."""
    check(profile)
    ev = get(name)
    if profile != "paper":
        stem = Path(tempfile.mkdtemp(prefix=f"airlib-{name}-")) / "model"
        evaluate(name, profile, stem, inputs)
        return runs.load_artifact(stem)
    stem = runs.artifact_stem(name, 0, directory)
    if not stem.with_suffix(".json").exists():
        raise runs.ArtifactError(f"no study {stem.name}; make it with: {ev.command(profile)} && "
                                 f"python -m airlib promote runs/{name}-paper")
    record, tensors = runs.load_artifact(stem)
    problems = check_record(name, record, data=False)
    if problems:
        raise runs.ArtifactError(f"{stem.name}: {'; '.join(problems)}; redo it with: {ev.command(profile)} && "
                                 f"python -m airlib promote runs/{name}-paper")
    return record, tensors


def needed_runs(weights: bool = False) -> set[tuple[str, int]]:
    """Every (experiment, seed) a registered study reads (its :class:`Need` s); with ``weights``, only those whose
    weights it loads (not the records it reads alone)."""
    return {(n.experiment, s) for name in names() for n in get(name).needs if n.weights or not weights
            for s in n.seeds}


def book_runs() -> list[tuple[str, int]]:
    """Every (experiment, seed) the book reads: the evaluations' needs and the committed training artifacts."""
    from .. import experiments
    from ..pretrained import available_seeds
    wanted = needed_runs()
    wanted |= {(name, s) for name in experiments.names() for s in available_seeds(name)}
    return sorted(wanted, key=lambda job: (job[1], job[0]))   # seed-major: the seeds the figures use come first


__all__ = ["Evaluation", "Need", "Inputs", "register", "names", "get", "evaluate", "load", "check_record", "needed_runs", "book_runs"]
