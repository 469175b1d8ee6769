"""Trained models of the book, loaded from ``artifacts/`` and checked: ``load_pretrained(NAME, seed=S)``.

An artifact is ``artifacts/<NAME>-seed<S>.safetensors`` (fp16 weights and figure tensors) with its
record ``.json`` (:mod:`airlib.runs`). Loading refuses an artifact whose weights differ from the
recorded SHA-256, whose configuration differs from what the code would train today (a field added since,
at its default, is no difference), or whose
``data_sha256`` differs from the data the code generates today, each time naming the command
that retrains it; it warns when the record says the run failed.
"""
from __future__ import annotations

import dataclasses
import functools
import warnings
from pathlib import Path

import torch

from . import experiments, runs
from .runs import ArtifactError

DEFAULT_SEED = 0


def available_seeds(name: str, directory: Path | None = None, weights: bool = False) -> list[int]:
    """Seeds with a record for ``name`` (with ``weights=True``: with committed weights too), ascending."""
    seeds = []
    for p in Path(directory or runs.ARTIFACTS).glob(f"{name}-seed*.json"):
        tail = p.stem[len(name) + len("-seed"):]
        if tail.isdigit() and (not weights or p.with_suffix(".safetensors").exists()):
            seeds.append(int(tail))
    return sorted(seeds)


@functools.lru_cache(maxsize=None)
def todays_data_sha256(name: str, profile: str) -> dict:
    """The ``data_sha256`` the code would record for ``name`` today (computed once per process)."""
    return runs.data_hashes(experiments.get(name).data(profile))


def config_changes(recorded, today) -> list[str]:
    """The fields in which a recorded configuration differs from today's dataclass ``today``, as ``"name: old -> new"``.

    A field the record lacks counts as unchanged when today's value is the field's default: a field added
    to the code later, whose default keeps the old behaviour, leaves older records valid.
    """
    now = experiments.as_dict(today)
    if not isinstance(recorded, dict) or not dataclasses.is_dataclass(today):
        return [] if recorded == now else [f"{recorded!r} -> {now!r}"]
    defaults = {f.name: f.default for f in dataclasses.fields(today) if f.default is not dataclasses.MISSING}
    changes = []
    for key in sorted(set(recorded) | set(now)):
        if key not in recorded and key in defaults and now[key] == experiments.as_dict(defaults[key]):
            continue
        if recorded.get(key, "(absent)") != now.get(key, "(absent)"):
            changes.append(f"{key}: {recorded.get(key, '(absent)')} -> {now.get(key, '(absent)')}")
    return changes


def check_record(name: str, record: dict, data: bool = True) -> list[str]:
    """What makes a record stale: a list of problems (empty when it matches today's code and data)."""
    model_cfg, train_cfg = experiments.config(name, record.get("profile", "paper"))
    problems = []
    for key, today in (("model_config", model_cfg), ("train_config", train_cfg)):
        changes = config_changes(record.get(key), today)
        if changes:
            problems.append(f"its {key} differs from today's ({', '.join(changes)})")
    if record.get("overrides"):
        problems.append(f"it was trained with overrides {record['overrides']}")
    if not record.get("finished"):
        problems.append("the run is unfinished")
    if data and record.get("data_sha256") != todays_data_sha256(name, record.get("profile", "paper")):
        problems.append("it was trained on other data than the code generates today (data_sha256 differs)")
    return problems


def load_record(name: str, seed: int = DEFAULT_SEED, directory: Path | None = None, data: bool = True) -> dict:
    """The record of a trained model, checked against today's configuration and data.

    Raises:
        ArtifactError: missing, or stale (naming the command that retrains it).
    """
    exp = experiments.get(name)
    stem = runs.artifact_stem(name, seed, directory)
    command = exp.command("paper", seed)
    if not stem.with_suffix(".json").exists():
        seeds = available_seeds(name, directory)
        raise ArtifactError(f"no trained artifact {stem.name} (seeds with records: {seeds or 'none'}); train it with: "
                            f"{command} && python -m airlib promote runs/{name}-paper-seed{seed}")
    record = runs.load_record(stem)
    problems = check_record(name, record, data)
    if problems:
        raise ArtifactError(f"{stem.name}: {'; '.join(problems)}; retrain with: {command}")
    return record


def load_pretrained(name: str = "air-multi-mnist", seed: int = DEFAULT_SEED, device: str = "cpu",
                    directory: Path | None = None):
    """A trained model of the book, in evaluation mode.

    Args:
        name: an experiment (``python -m airlib list``), e.g. ``"air-multi-mnist"``.
        seed: which training run (``available_seeds(name, weights=True)``).
        device: where to put the model: ``"cpu"``, ``"cuda"`` (``"cuda:1"``, or a ``torch.device``) or
            ``"auto"`` (a GPU when torch sees one), checked before anything is loaded
            (:func:`airlib.runs.resolve_device`).
        directory: where the artifacts lie (default: the repository's ``artifacts/``).

    Returns:
        The model (for AIR: use ``model.infer(images)``), with attributes ``record`` (the JSON record)
        and ``figures`` (the tensors saved for the book's figures).

    Raises:
        ValueError: a device this torch cannot use (e.g. ``"cuda"`` without a GPU or CUDA build).
        ArtifactError: missing, damaged or stale, naming the file and the command that remakes it.
    """
    device = runs.resolve_device(str(device) if isinstance(device, torch.device) else device)
    exp = experiments.get(name)
    record = load_record(name, seed, directory)
    _, tensors = runs.load_artifact(runs.artifact_stem(name, seed, directory))
    if exp.failed(record):
        good = [s for s in available_seeds(name, directory) if not exp.failed(runs.load_record(runs.artifact_stem(name, s, directory)))]
        metric, threshold = exp.success
        warnings.warn(f"{name} seed {seed} failed: {metric} = {record['metrics'].get(metric)} < {threshold}; "
                      f"seeds that succeeded: {good}", stacklevel=2)
    model_cfg, train_cfg = experiments.config(name, record["profile"])
    torch.manual_seed(0)
    model = exp.build(model_cfg, train_cfg)
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    own = model.state_dict()
    if set(state) != set(own):
        raise ArtifactError(f"{name}-seed{seed}.safetensors holds other weights than the model "
                            f"(missing {sorted(set(own) - set(state))[:3]}, unexpected {sorted(set(state) - set(own))[:3]})")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    public = exp.public(model).to(device).eval()
    public.record = record
    public.figures = {k: v for k, v in tensors.items() if not k.startswith("model.")}
    return public


def load_or_train(name: str, profile: str, seed: int = DEFAULT_SEED, directory: Path | None = None):
    """The paper profile loads the committed model; any other profile trains one now, in a temporary folder.

    This is what a notebook calls, so it never branches on the profile itself.

    Returns:
        The model in evaluation mode, with ``record`` and ``figures`` attributes as from :func:`load_pretrained`.
    """
    if profile == "paper":
        return load_pretrained(name, seed, directory=directory)
    import tempfile
    from .train import train
    run = train(name, profile, seed, run_dir=Path(tempfile.mkdtemp(prefix=f"airlib-{name}-")), progress=False)
    public = experiments.get(name).public(run.model).eval()
    public.record, public.figures = run.record, run.figures
    return public


def seed_records(name: str, profile: str, fallback: dict | None = None, directory: Path | None = None) -> dict[int, dict]:
    """Every committed seed's record (paper profile, each checked), else ``{seed: fallback}`` for a run made now."""
    if profile != "paper":
        return {} if fallback is None else {fallback["seed"]: fallback}
    return {s: load_record(name, s, directory) for s in available_seeds(name, directory)}
