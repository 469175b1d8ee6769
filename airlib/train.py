"""The one training loop: any registered experiment, resumable, writing only under ``runs/``.

``python -m airlib train NAME --profile P --seed S`` or ``train(NAME, P, seed=S)``. The run folder
(default ``runs/<NAME>-<P>-seed<S>``) gets ``metrics.jsonl`` and a checkpoint every
``checkpoint_seconds``; at the end ``model.safetensors`` and ``record.json`` (:mod:`airlib.runs`).
Started again, a run resumes from its checkpoint. All randomness (initialisation, data order,
posterior samples) comes from generators seeded by the run's seed whose states the checkpoint
holds, so a resumed run gives bit for bit the model of an uninterrupted one. An ``extendable``
experiment (its schedule does not read ``steps``) continues a finished run when ``steps`` is raised
(and when its ``schedules``, e.g. a learning-rate drop, change only at steps not yet trained), with the
same guarantee against a run started with the new configuration; the record lists each extension. Nothing here writes to
``artifacts/``: ``python -m airlib promote RUN_DIR`` does, explicitly.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import NamedTuple

import torch

from . import experiments, numerics, runs
from .experiments import as_dict


class Run(NamedTuple):
    """A trained (or interrupted) run: the model and its record."""
    model: torch.nn.Module
    record: dict
    figures: dict


def check_seed(seed) -> int:
    """The seed as an int in [0, bound), the bound every experiment accepts (``Experiment.max_seed``: one seed
    means the same range everywhere), or a ValueError naming it."""
    bound = min(experiments.get(name).max_seed for name in experiments.names())
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < bound:
        raise ValueError(f"seed must be an integer in [0, {bound}), got {seed!r}")
    return seed


def train(name: str, profile: str = "paper", seed: int = 0, run_dir=None, stop_at: int | None = None,
          progress: bool = True, device: str | None = None, overrides: dict | None = None, threads: int = 1,
          data: dict | None = None, command: str | None = None) -> Run:
    """Trains (or resumes) one run of a registered experiment.

    Args:
        name: an experiment of :mod:`airlib.experiments` (``python -m airlib list``).
        profile: ``"smoke"`` or ``"paper"``.
        seed: seeds the initialisation, the data order and the posterior samples.
        run_dir: default ``runs/<name>-<profile>-seed<S>`` (``-<hash>`` added when overridden).
        stop_at: stop after this many steps, leaving the checkpoint (an interruption, for tests).
        progress: a tqdm bar.
        device: ``"cpu"`` (default), ``"cuda"`` or ``"auto"`` (a GPU when there is one); the record states it.
        overrides: ``{"train.lr": 1e-4, ...}`` for ablations; recorded in the configurations.
        threads: torch CPU threads (one per job: small ops do not pay for threading).
        data: the experiment's data (default: ``experiment.data(profile)``); hashed into the record.
        command: the command line recorded.

    Returns:
        A :class:`Run`: the model (in training mode), the record, the figure tensors.
    """
    exp = experiments.get(name)
    seed = check_seed(seed)
    if stop_at is not None and (isinstance(stop_at, bool) or not isinstance(stop_at, int) or stop_at < 0):
        raise ValueError(f"stop_at must be a non-negative integer, got {stop_at!r}")
    model_cfg, cfg = experiments.config(name, profile, overrides)
    dev = runs.resolve_device(device)
    torch.set_num_threads(threads)
    data = exp.data(profile) if data is None else data
    identity = dict(experiment=name, profile=profile, seed=seed, model_config=as_dict(model_cfg),
                    train_config=as_dict(cfg), data_sha256=runs.data_hashes(data))
    if run_dir is None:
        run_dir = runs.RUNS / runs.run_name(name, profile, seed, overrides)
    run_dir = Path(run_dir)
    command = command or exp.command(profile, seed)
    prov = runs.provenance(dev, command)      # the code that started the run (a resumed run keeps it)

    ckpt_path, log_path = run_dir / "checkpoint.pt", run_dir / "metrics.jsonl"
    # another run's checkpoint is refused before the model and optimiser are built (seconds of imports)
    state = runs.load_checkpoint(ckpt_path, identity, dev, extendable=exp.extendable, schedules=exp.schedules)
    torch.manual_seed(seed)
    model = exp.build(model_cfg, cfg).to(dev)
    optim = exp.optimiser(model, cfg)
    base_lrs = [g["lr"] for g in optim.param_groups]
    gen = torch.Generator(device=dev).manual_seed(seed + 1)
    step, train_time, history, figures, extensions = 0, 0.0, [], {}, []
    spent_before = 0.0                      # seconds of earlier processes on this run, redone steps included
    if state is not None:
        step, train_time, history, figures, extensions, prov = _resume(state, model, optim, gen, identity, prov)
        spent_before = _spent(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    runs.write_metrics(log_path, history)
    t_process = time.time()

    end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
    bar = _progress_bar(name, cfg.steps, step) if progress else None
    last_save, t_log, n_log, running = time.time(), 0.0, 0, {}
    model.train()
    while step <= end:
        if not any(h["step"] == step for h in history) and (step % cfg.log_every == 0 or step == cfg.steps):
            figures |= exp.figures(model, data, cfg, step)
            history.append(dict(step=step, **exp.evaluate(model, data, cfg, step),
                                **{f"train_{k}": v for k, v in running.items()},
                                step_time=t_log / n_log if n_log else None, train_time=train_time))
            with open(log_path, "a") as f:
                f.write(json.dumps(history[-1]) + "\n")
            t_log, n_log, running = 0.0, 0, {}
            _write_spent(run_dir, spent_before + time.time() - t_process)
        if step == end or (step % cfg.log_every == 0 and time.time() - last_save >= cfg.checkpoint_seconds):
            runs.save_checkpoint(ckpt_path, dict(identity=identity, model=model.state_dict(), optim=optim.state_dict(),
                                                 generator=gen.get_state(), torch_rng=torch.get_rng_state(), step=step,
                                                 train_time=train_time, history=history, figures=figures,
                                                 provenance=prov, extensions=extensions))
            last_save = time.time()
        if step == end:
            break
        t0 = time.time()
        info = _step(exp, model, optim, base_lrs, data, cfg, seed, step, gen)
        for k, v in info.items():   # running means over the logging interval
            running[k] = running.get(k, 0.0) + (v - running.get(k, 0.0)) / (n_log + 1)
        step += 1
        dt = time.time() - t0
        t_log, n_log, train_time = t_log + dt, n_log + 1, train_time + dt
        if bar is not None:
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix({k: f"{v:.3g}" for k, v in info.items()})
    if bar is not None:
        bar.close()
    spent = spent_before + time.time() - t_process
    _write_spent(run_dir, spent)
    finished = step == cfg.steps
    record = dict(identity, **prov,
                  wall_time_s=spent, train_time_s=train_time, finished=finished, steps=step, history=history,
                  metrics=exp.evaluate(model, data, cfg, step, final=True) if finished else {},
                  overrides=overrides or {}, weights_sha256="", numerics=numerics.for_record(name))
    if extensions:       # the code that continued the run (the record's commit is the one that started it)
        record["extended"] = extensions
    if finished:
        tensors = {f"model.{k}": storable(v) for k, v in model.state_dict().items()}
        record = runs.save_artifact(run_dir / "model", tensors | figures, record)
    return Run(model, record, figures)


def _progress_bar(name: str, steps: int, step: int):
    from tqdm.auto import tqdm
    return tqdm(total=steps, initial=step, desc=name, dynamic_ncols=True)


def _resume(state: dict, model, optim, gen: torch.Generator, identity: dict, prov: dict):
    """Restores a checkpoint's model, optimiser and random streams; returns ``(step, train_time, history,
    figures, extensions, provenance)``, with an extension entry when the configuration grew since."""
    model.load_state_dict(state["model"])
    optim.load_state_dict(state["optim"])
    gen.set_state(state["generator"].cpu() if gen.device.type == "cpu" else state["generator"])
    torch.set_rng_state(state["torch_rng"])
    extensions = state.get("extensions", [])
    before, now = (runs._jsonable(i["train_config"]) for i in (state["identity"], identity))
    if before != now:     # an extendable run given more steps (or a schedule changed from its step on)
        extensions = [*extensions, dict(from_steps=before["steps"], to_steps=now["steps"], at_step=state["step"],
                                        changed={k: [before.get(k), now.get(k)] for k in sorted(set(before) | set(now))
                                                 if k != "steps" and before.get(k) != now.get(k)},
                                        **{k: prov[k] for k in ("command", "commit", "dirty")})]
    return (state["step"], state["train_time"], state["history"], state["figures"], extensions,
            state.get("provenance", prov))


def _step(exp, model, optim, base_lrs: list[float], data: dict, cfg, seed: int, step: int,
          gen: torch.Generator) -> dict:
    """One optimiser step at the scheduled rate (gradient clipped at ``cfg.clip`` if set); the loss's info."""
    for group, lr in zip(optim.param_groups, base_lrs):
        group["lr"] = lr * exp.lr_scale(cfg, step)
    loss, info = exp.loss(model, exp.batch(data, cfg, seed, step), cfg, step, gen)
    optim.zero_grad(set_to_none=True)
    loss.backward()
    if getattr(cfg, "clip", None):
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
    optim.step()
    return info


def storable(tensor: torch.Tensor) -> torch.Tensor:
    """A state tensor as the artifact keeps it: fp16 where every value fits (|v| < 65504), else as it is.

    Running statistics of the learning signal (thousands of nats, squared) overflow fp16 to inf, and a
    run continued from the artifact would then divide by inf.
    """
    if not tensor.is_floating_point():
        return tensor
    half = tensor.half()
    return half if torch.isfinite(half).all() or not torch.isfinite(tensor).all() else tensor


def _spent(run_dir: Path) -> float:
    try:
        return float(json.loads((run_dir / "time.json").read_text())["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def _write_spent(run_dir: Path, seconds: float) -> None:
    runs.write_json(run_dir / "time.json", {"seconds": seconds})


def parse_overrides(items: list[str]) -> dict:
    """``["train.clip=10", ...]`` (the ``--set`` options) as ``{"train.clip": 10, ...}``, values read as JSON.

    Raises:
        ValueError: naming the item whose value is not JSON.
    """
    overrides = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"--set {item}: the value of {key} must be JSON (a number, true/false, a list or a "
                             "quoted string)") from None
    return overrides


def recorded_command(argv: list[str]) -> str:
    """The command a record states: ``argv`` without where the run is kept and how it reports
    (``--run-dir``, ``--no-progress``, ``--stop-at``), so the same job states the same command wherever it ran."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--run-dir", "--stop-at"):
            skip = True
        elif arg != "--no-progress" and not arg.startswith(("--run-dir=", "--stop-at=")):
            kept.append(arg)
    return " ".join(["python -m airlib train", *kept])


def main(argv=None) -> int:
    """``train NAME --profile P --seed S [--run-dir D] [--stop-at K] [--device cuda]``."""
    p = argparse.ArgumentParser(prog="python -m airlib train", description="Train a registered experiment "
                                "(python -m airlib list) into runs/; promote it with python -m airlib promote.")
    p.add_argument("experiment", choices=experiments.names(), help="the experiment to train")
    p.add_argument("--profile", default="paper", choices=experiments.PROFILES, help="scale (default: paper)")
    p.add_argument("--seed", type=int, default=0, help="seeds initialisation, data order and samples (default 0)")
    p.add_argument("--run-dir", default=None, help="run folder (default runs/NAME-PROFILE-seedS)")
    p.add_argument("--stop-at", type=int, default=None, help="stop after this step; run again to resume")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                   help="cpu (default), cuda, or auto: a GPU when torch sees one (recorded in the record)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a configuration field, e.g. --set train.clip=10 (JSON values)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    try:
        check_seed(args.seed)
        if args.stop_at is not None and args.stop_at < 0:
            p.error(f"--stop-at must be non-negative, got {args.stop_at}")
        overrides = parse_overrides(args.set)
        cmd = recorded_command(argv if argv is not None else sys.argv[2:])
        run = train(args.experiment, args.profile, args.seed, args.run_dir, args.stop_at, not args.no_progress,
                    args.device, overrides or None, args.threads, command=cmd)
    except (ValueError, runs.RunError) as e:
        p.error(str(e))
    r = run.record
    print(json.dumps({k: r[k] for k in ("experiment", "seed", "steps", "finished", "wall_time_s", "device", "metrics")},
                     default=str))
    return 0
