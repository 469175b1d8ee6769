"""Training and evaluation of the 3D single-object experiment, with resumable checkpoints and
committed artifacts (Sec. III-A).

Commands (``MUJOCO_GL=egl``; each resumes from ``runs/3d-<name>.resume.pt`` if interrupted):

    python -m airlib.scene3d_train air --profile paper          # -> artifacts/3d-air.{pt,json}
    python -m airlib.scene3d_train supervised --profile paper   # -> artifacts/3d-supervised.{pt,json}
    python -m airlib.scene3d_train evaluate --profile paper     # -> artifacts/3d-results.{pt,json}

The images of every training step are drawn from a generator seeded by (seed, step), so AIR and
the supervised network see the same images, and a resumed run the same stream.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

import torch

from airlib import scene3d
from airlib.scene3d import AIRTrainer, Config, SceneNet, config, scenes, supervised_loss

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
RUNS = ROOT / "runs"
METHODS = ("air", "supervised")


def command(name: str, profile: str) -> str:
    """The command line that makes an artifact."""
    return f"MUJOCO_GL=egl python -m airlib.scene3d_train {name} --profile {profile}"


def _provenance() -> dict:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    return {"git_commit": commit, "device": f"cpu ({platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores shared, torch threads {torch.get_num_threads()})"}


def _config_dict(cfg: Config) -> dict:
    return json.loads(json.dumps(asdict(cfg)))  # tuples -> lists, as stored


def train(method: str, cfg: Config, resume: Path | None = None, checkpoint_every: int = 200,
          log_every: int = 10, quiet: bool = True, stop_at: int | None = None):
    """Trains AIR (ELBO under the renderer) or the supervised network (ground-truth likelihood).

    Args:
        method: ``"air"`` or ``"supervised"``.
        cfg: the configuration.
        resume: checkpoint file to resume from and write to (None: no checkpoints).
        checkpoint_every: steps between checkpoints.
        log_every: steps between history entries.
        quiet: no progress printing.
        stop_at: return after this step, as if interrupted (for tests of resuming).

    Returns:
        (SceneNet, history dict of lists, wall seconds).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    torch.manual_seed(cfg.seed)
    module = AIRTrainer(cfg) if method == "air" else SceneNet(cfg.hidden, cfg.input_size)
    opt = torch.optim.Adam(module.parameters(), lr=cfg.lr)
    # Cosine decay to a tenth of the learning rate over the run.
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.1 + 0.45 * (1 + math.cos(math.pi * min(s, cfg.steps) / cfg.steps)))
    history = {"step": [], "loss": [], "elbo": [], "batch_accuracy": [], "batch_position_error": []}
    start, elapsed = 0, 0.0
    if resume is not None and resume.exists():
        state = torch.load(resume, weights_only=True)
        if state["config"] == _config_dict(cfg) and state["method"] == method:
            module.load_state_dict(state["module"])
            opt.load_state_dict(state["optimiser"])
            sched.load_state_dict(state["scheduler"])
            history, start, elapsed = state["history"], state["step"], state["elapsed"]
            print(f"resuming {method} at step {start}", flush=True)
    t0 = time.perf_counter() - elapsed
    module.train()
    for step in range(start, cfg.steps):
        torch.manual_seed(cfg.seed * 1_000_003 + step)
        identity, pose, images = scenes(cfg.batch, [cfg.seed, step])
        if method == "air":
            out = module.loss(images, learn_what=step >= cfg.what_warmup)
            loss, elbo = out.loss, out.elbo.mean().item()
        else:
            loss, elbo = supervised_loss(module, images, identity, pose, cfg.input_size), float("nan")
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % log_every == 0 or step == cfg.steps - 1:
            with torch.no_grad():
                net = module.net if method == "air" else module
                guess, where = scene3d.infer_network(net, images, cfg.input_size)
                net.train()
            history["step"].append(step)
            history["loss"].append(loss.item())
            history["elbo"].append(elbo)
            history["batch_accuracy"].append((guess == identity).float().mean().item())
            history["batch_position_error"].append(
                ((where[:, :2] - pose[:, :2]).norm(dim=1) / scene3d.SPEC.table_width).mean().item())
            if not quiet:
                print(f"{method} step {step} loss {loss.item():.4g} elbo {elbo:.4g} "
                      f"acc {history['batch_accuracy'][-1]:.2f} "
                      f"pos {history['batch_position_error'][-1]:.3f} "
                      f"{time.perf_counter() - t0:.0f}s", flush=True)
        if resume is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == cfg.steps):
            resume.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"config": _config_dict(cfg), "method": method, "module": module.state_dict(),
                        "optimiser": opt.state_dict(), "scheduler": sched.state_dict(),
                        "history": history, "step": step + 1,
                        "elapsed": time.perf_counter() - t0}, resume)
        if stop_at is not None and step + 1 >= stop_at:
            break
    net = module.net if method == "air" else module
    return net.eval(), history, time.perf_counter() - t0


def save_model(method: str, profile: str, net: SceneNet, history: dict, seconds: float,
               cfg: Config, directory: Path = ARTIFACTS) -> Path:
    """Writes ``3d-<method>.pt`` (fp16 weights, config, history) and its JSON record."""
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    record = {"command": command(method, profile), **_provenance(), "wall_seconds": seconds,
              "final": {k: v[-1] for k, v in history.items()}, "config": _config_dict(cfg)}
    path = directory / f"3d-{method}.pt"
    torch.save({"config": _config_dict(cfg), "state_dict": state, "history": history,
                "record": record}, path)
    path.with_suffix(".json").write_text(json.dumps(record, indent=1))
    return path


def load_model(method: str, profile: str, directory: Path = ARTIFACTS):
    """Loads a committed model, checking that it was trained with this profile's configuration.

    Returns:
        (SceneNet in eval mode, history dict).

    Raises:
        FileNotFoundError / ValueError: naming the command that makes the artifact.
    """
    cfg = config(profile)
    path = directory / f"3d-{method}.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; make it with: {command(method, profile)}")
    state = torch.load(path, weights_only=True)
    if state["config"] != _config_dict(cfg):
        raise ValueError(f"{path} was trained with {state['config']}, not the {profile!r} "
                         f"configuration; retrain with: {command(method, profile)}")
    net = SceneNet(cfg.hidden, cfg.input_size)
    net.load_state_dict({k: v.float() if v.is_floating_point() else v
                         for k, v in state["state_dict"].items()})
    return net.eval(), state["history"]


def run_evaluation(profile: str, nets: dict, directory: Path = ARTIFACTS) -> dict:
    """Evaluates the networks and direct optimisation; writes ``3d-results.{json,pt}``."""
    cfg = config(profile)
    t = time.perf_counter()
    results = scene3d.evaluate(nets, cfg)
    inferred = {name: r.pop("inferred") for name, r in results.items()}
    traces = results["direct"].pop("traces")
    record = {"command": command("evaluate", profile), **_provenance(),
              "wall_seconds": time.perf_counter() - t, "config": _config_dict(cfg),
              "results": results}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "3d-results.json").write_text(json.dumps(record, indent=1))
    keep = 16  # the figures' scenes
    torch.save({"config": _config_dict(cfg),
                "inferred": {n: (i[:keep].clone(), p[:keep].half().clone()) for n, (i, p) in inferred.items()},
                "direct_traces": traces.float()}, directory / "3d-results.pt")
    return record


def load_results(profile: str, directory: Path = ARTIFACTS) -> tuple[dict, dict]:
    """The committed evaluation: (JSON record, tensors for the figures)."""
    path = directory / "3d-results.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; make it with: {command('evaluate', profile)}")
    record = json.loads(path.read_text())
    if record["config"] != _config_dict(config(profile)):
        raise ValueError(f"{path} is for another configuration; rerun: {command('evaluate', profile)}")
    return record, torch.load(directory / "3d-results.pt", weights_only=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Sec. III-A: train AIR / supervised, or evaluate")
    parser.add_argument("what", choices=[*METHODS, "evaluate"])
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = config(args.profile)
    if args.what == "evaluate":
        nets = {m: load_model(m, args.profile)[0] for m in METHODS}
        record = run_evaluation(args.profile, nets)
        print(json.dumps(record["results"], indent=1))
        return
    resume = RUNS / f"3d-{args.what}-{args.profile}.resume.pt"
    net, history, seconds = train(args.what, cfg, resume=resume, quiet=False)
    print("wrote", save_model(args.what, args.profile, net, history, seconds, cfg))


if __name__ == "__main__":
    main()
