"""Training AIR and DAIR on multi-MNIST (Sec. I B): Adam on the score-function surrogate of Eq. (3).

Run from the shell as ``python -m airlib train air-multi-mnist --profile paper --seed 0`` or from
Python as ``train("air-multi-mnist", "paper", seed=0)``. A run writes to its directory (by default
``runs/<experiment>-<profile>-seed<S>/``): ``metrics.jsonl`` (one JSON line every ``log_every`` steps:
ELBO, count accuracy on held-out images, step time) and ``checkpoint.pt``, replaced atomically every
few minutes. Started again, a run resumes from its checkpoint; all randomness (initialisation, data
order, posterior samples) comes from seeded generators whose states the checkpoint holds, so the
resumed run gives the same result as an uninterrupted one.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from . import estimators as est
from .air import AIR, AIRConfig, Trace
from .profiles import select

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one profile."""
    steps: int
    batch_size: int = 64
    lr: float = 1e-3                    # inference network and decoder
    baseline_lr: float = 1e-2           # NVIL baseline: faster, it must track the learning signal
    lr_decay_from: float = 0.5          # fraction of training after which both rates decay linearly ...
    lr_final: float = 0.1               # ... to this fraction of their value at the last step
    clip: float = 1e4                   # max gradient norm of the model's parameters
    prior_start: float = 0.5            # rho at step 0 (objects cost nothing), annealed log-linearly ...
    prior_end: float = 1e-7             # ... to this value (an object costs 16 nats) at step `anneal_steps`
    anneal_steps: int = 4000
    log_every: int = 200
    eval_images: int = 1000             # held-out images for the logged count accuracy
    checkpoint_seconds: float = 180.0
    snapshots: tuple[int, ...] = ()     # steps at which to keep reconstructions of fixed test images (Fig. 5)
    threads: int = 1                    # torch CPU threads (one: small ops do not pay for threading)


def smoke_model(difference: bool) -> AIRConfig:
    return AIRConfig(difference=difference, lstm=64, embed=64, hidden=64, z_what=10)


MODELS = {
    "air-multi-mnist": {"smoke": smoke_model(False), "paper": AIRConfig()},
    "dair-multi-mnist": {"smoke": smoke_model(True), "paper": AIRConfig(difference=True)},
}

TRAIN = {
    "smoke": TrainConfig(steps=300, batch_size=32, anneal_steps=150, log_every=50, eval_images=200,
                         checkpoint_seconds=0.0, snapshots=(0, 100, 300)),
    "paper": TrainConfig(steps=10000, log_every=250, checkpoint_seconds=120.0,
                         snapshots=(0, 250, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000)),
}


def experiment_configs(experiment: str, profile: str) -> tuple[AIRConfig, TrainConfig]:
    """The model and training configurations of an experiment under a profile."""
    if experiment not in MODELS:
        raise ValueError(f"unknown experiment {experiment!r}: expected one of {', '.join(MODELS)}")
    return select(MODELS[experiment], profile), select(TRAIN, profile)


def pres_prior_at(cfg: TrainConfig, step: int) -> float:
    """rho annealed log-linearly from ``prior_start`` to ``prior_end`` over ``anneal_steps``."""
    t = min(1.0, step / max(1, cfg.anneal_steps))
    return math.exp((1 - t) * math.log(cfg.prior_start) + t * math.log(cfg.prior_end))


def lr_scale_at(cfg: TrainConfig, step: int) -> float:
    """Multiplier of the learning rates: 1, then linear decay to ``lr_final`` over the last part."""
    start = cfg.lr_decay_from * cfg.steps
    if step <= start:
        return 1.0
    return 1.0 - (1.0 - cfg.lr_final) * (step - start) / max(1.0, cfg.steps - start)


def surrogate_loss(model: AIR, images: torch.Tensor, pres_prior: float, generator=None) -> tuple[torch.Tensor, dict]:
    """The loss whose gradient is the AIR gradient estimate, Eqs. (4)-(7), and the baseline's loss.

    Continuous latents use the pathwise estimator, Eq. (6). Each ``z_pres^i`` uses the likelihood
    ratio estimator, Eq. (7), with the learning signal restricted to the terms ``z_pres^i`` can
    influence (the likelihood and steps ``j >= i``) minus NVIL's input-dependent baseline
    ``b(x, z^{1:i-1})``, which is trained by regression onto the signal.

    Returns:
        ``(loss, info)``: a scalar to minimise, and ``info`` with the trace and per-image ELBO.
    """
    trace = model(images, sample=True, generator=generator)
    t = model.elbo_terms(trace, images, pres_prior)
    mask = trace.active                                                       # estimators.step_mask
    signal = est.learning_signal(t["loglik"], t["pres"] - t["kl"], mask)      # (B, N), local credit
    baseline = model.stop_value(trace, images, pres_prior).detach() + trace.baseline
    score = est.score_function_surrogate(model.pres_log_q(trace), signal - baseline.detach(), mask)  # Eq. (7)
    pathwise = -(t["loglik"] - t["kl"].sum(1)).mean()                         # Eq. (6)
    loss = pathwise + score + est.baseline_loss(baseline, signal, mask)
    return loss, dict(trace=trace, elbo=t["elbo"].detach())


@torch.no_grad()
def evaluate(model: AIR, images: torch.Tensor, counts: torch.Tensor, pres_prior: float, batch: int = 500,
             seed: int = 12345) -> dict:
    """Count accuracy of the deterministic inference and a one-sample ELBO estimate (nats/image)."""
    was = model.training
    model.eval()
    gen = torch.Generator(device=images.device).manual_seed(seed)
    correct, elbo, total = 0, 0.0, 0
    for i in range(0, len(images), batch):
        x = images[i:i + batch]
        n = model.forward(x, sample=False).z_pres.sum(1).long()
        correct += (n == counts[i:i + batch]).sum().item()
        total += n.sum().item()
        tr = model.forward(x, sample=True, generator=gen)
        elbo += model.elbo_terms(tr, x, pres_prior)["elbo"].sum().item()
    model.train(was)
    return dict(count_accuracy=correct / len(images), elbo=elbo / len(images), mean_count=total / len(images))


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except Exception:
        return "unknown"


def _save_atomic(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(experiment: str = "air-multi-mnist", profile: str = "paper", seed: int = 0, run_dir=None,
          stop_at: int | None = None, progress: bool = True, export: bool | None = None, data=None,
          device: str | None = None, command: str | None = None) -> dict:
    """Trains (or resumes) one run and returns its record.

    Args:
        experiment: ``"air-multi-mnist"`` or ``"dair-multi-mnist"``.
        profile: ``"smoke"`` or ``"paper"``.
        seed: seeds the initialisation, the data order and the posterior samples.
        run_dir: where the checkpoint and metrics go; default ``runs/<experiment>-<profile>-seed<S>``.
        stop_at: stop after this many steps, leaving the checkpoint (simulates an interruption).
        progress: show a tqdm bar with the ELBO and the running count accuracy.
        export: write ``artifacts/<experiment>-seed<S>.{pt,json}`` at the end (default: paper profile).
        data: ``(train, test)`` multi-MNIST sets; default ``airlib.data.multi_mnist_splits(profile)``.
        device: default CUDA when available, else CPU.
        command: the command line recorded in the artifact.

    Returns:
        The run's record: configuration, provenance, final metrics, history and snapshots.
    """
    from . import data as mm
    model_cfg, cfg = experiment_configs(experiment, profile)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_dir = Path(run_dir or ROOT / "runs" / f"{experiment}-{profile}-seed{seed}")
    run_dir.mkdir(parents=True, exist_ok=True)
    train_set, test_set = data if data is not None else mm.multi_mnist_splits(profile)
    x_train, c_train = train_set.tensor().to(dev), torch.from_numpy(train_set.counts).to(dev)
    x_test, c_test = test_set.tensor().to(dev), torch.from_numpy(test_set.counts).to(dev)
    x_eval, c_eval = x_test[:cfg.eval_images], c_test[:cfg.eval_images]
    x_snap = x_test[:8]

    torch.manual_seed(seed)
    model = AIR(model_cfg).to(dev)
    base_params = list(model.baseline.parameters())
    ids = {id(p) for p in base_params}
    optim = torch.optim.Adam([{"params": [p for p in model.parameters() if id(p) not in ids], "lr": cfg.lr},
                              {"params": base_params, "lr": cfg.baseline_lr}], fused=dev.type in ("cpu", "cuda"))
    gen = torch.Generator(device=dev).manual_seed(seed + 1)
    step, wall, running_acc, snapshots, history, acc_elbo, n_elbo = 0, 0.0, None, [], [], 0.0, 0
    commit, elapsed = git_commit(), 0.0           # the code that started the run; time including evaluations
    ckpt_path, log_path = run_dir / "checkpoint.pt", run_dir / "metrics.jsonl"
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=dev, weights_only=False)
        if ck["experiment"] != experiment or ck["profile"] != profile or ck["seed"] != seed:
            raise ValueError(f"{ckpt_path} belongs to another run: {ck['experiment']} {ck['profile']} seed {ck['seed']}")
        if ck.get("configs", (asdict(model_cfg), asdict(cfg))) != (asdict(model_cfg), asdict(cfg)):
            raise ValueError(f"{ckpt_path} was made with another configuration; delete {run_dir} to start afresh")
        model.load_state_dict(ck["model"])
        optim.load_state_dict(ck["optim"])
        gen.set_state(ck["generator"])
        step, wall, running_acc, snapshots, history = ck["step"], ck["wall"], ck["running_acc"], ck["snapshots"], ck["history"]
        acc_elbo, n_elbo = ck["partial"]
        commit, elapsed = ck.get("commit", commit), ck.get("elapsed", 0.0)
    t_start = time.time() - elapsed
    _truncate_log(log_path, step)

    n_batches = len(x_train) // cfg.batch_size
    perm_epoch, perm = -1, None
    last_save, t_log, steps_timed = time.time(), 0.0, 0
    end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=cfg.steps, initial=step, desc=experiment, dynamic_ncols=True)
    model.train()
    while step <= end:
        if step in cfg.snapshots and not any(s["step"] == step for s in snapshots):
            snapshots.append(_snapshot(model, x_snap, step))
        if step % cfg.log_every == 0 or step == cfg.steps:
            if not any(h["step"] == step for h in history):
                ev = evaluate(model, x_eval, c_eval, pres_prior_at(cfg, step))
                rec = dict(step=step, train_elbo=acc_elbo / n_elbo if n_elbo else None,
                           train_count_accuracy=running_acc, test_count_accuracy=ev["count_accuracy"],
                           test_elbo=ev["elbo"], test_mean_count=ev["mean_count"], step_time=t_log / steps_timed if steps_timed else None,
                           pres_prior=pres_prior_at(cfg, step), wall=wall)
                history.append(rec)
                with open(log_path, "a") as f:
                    f.write(json.dumps(rec) + "\n")
                t_log, steps_timed, acc_elbo, n_elbo = 0.0, 0, 0.0, 0
        if step == end or (step % cfg.log_every == 0 and time.time() - last_save >= cfg.checkpoint_seconds):
            _save_atomic(dict(experiment=experiment, profile=profile, seed=seed, model=model.state_dict(),
                              optim=optim.state_dict(), generator=gen.get_state(), step=step, wall=wall,
                              running_acc=running_acc, snapshots=snapshots, history=history,
                              partial=(acc_elbo, n_elbo), commit=commit, elapsed=time.time() - t_start,
                              configs=(asdict(model_cfg), asdict(cfg))), ckpt_path)
            last_save = time.time()
        if step == end:
            break
        t0 = time.time()
        epoch = step // n_batches
        if epoch != perm_epoch:
            perm_epoch = epoch
            perm = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(seed * 100003 + epoch)).to(dev)
        idx = perm[(step % n_batches) * cfg.batch_size:(step % n_batches + 1) * cfg.batch_size]
        x, counts = x_train[idx], c_train[idx]
        for group, lr in zip(optim.param_groups, (cfg.lr, cfg.baseline_lr)):
            group["lr"] = lr * lr_scale_at(cfg, step)
        loss, info = surrogate_loss(model, x, pres_prior_at(cfg, step), gen)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        optim.step()
        acc = (info["trace"].z_pres.sum(1).long() == counts).float().mean().item()
        running_acc = acc if running_acc is None else 0.98 * running_acc + 0.02 * acc
        acc_elbo += info["elbo"].mean().item()
        n_elbo += 1
        step += 1
        dt = time.time() - t0
        t_log, steps_timed, wall = t_log + dt, steps_timed + 1, wall + dt
        if bar is not None:
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(elbo=f"{info['elbo'].mean().item():.1f}", count_acc=f"{running_acc:.3f}")
    if bar is not None:
        bar.close()
    record = dict(experiment=experiment, profile=profile, seed=seed, model_config=asdict(model_cfg),
                  train_config=asdict(cfg), steps=step, wall_time_s=wall, elapsed_s=time.time() - t_start,
                  device=device_name(dev), commit=commit, command=command or f"python -m airlib train {experiment} --profile {profile} --seed {seed}",
                  history=history, snapshots=snapshots, finished=step == cfg.steps, model=model)
    if step == cfg.steps:
        final = evaluate(model, x_test, c_test, cfg.prior_end)
        record["final"] = dict(test_count_accuracy=final["count_accuracy"], test_elbo=final["elbo"],
                               test_images=len(x_test))
        if export if export is not None else profile == "paper":
            export_artifact(record)
    return record


def _snapshot(model: AIR, x: torch.Tensor, step: int) -> dict:
    model.eval()
    with torch.no_grad():
        tr = model.forward(x, sample=False)
    model.train()
    return dict(step=step, reconstruction=tr.reconstruction.half().cpu(), z_where=tr.z_where.cpu(),
                z_pres=tr.z_pres.cpu())


def _truncate_log(path: Path, step: int) -> None:
    """Drops log lines past the checkpoint's step, so a resumed run rewrites them exactly once."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in keep))
    os.replace(tmp, path)


def export_artifact(record: dict, directory: Path = ARTIFACTS) -> Path:
    """Writes ``<experiment>-seed<S>.pt`` (fp16 weights, snapshots) and ``.json`` (the record)."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = directory / f"{record['experiment']}-seed{record['seed']}"
    weights = {k: v.half().cpu() for k, v in record["model"].state_dict().items()}
    _save_atomic(dict(model_config=record["model_config"], state_dict=weights, snapshots=record["snapshots"]),
                 stem.with_suffix(".pt"))
    meta = {k: v for k, v in record.items() if k not in ("model", "snapshots")}
    tmp = stem.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, stem.with_suffix(".json"))
    return stem.with_suffix(".pt")


def main(argv=None) -> int:
    """``train <experiment> --profile P --seed S [--run-dir D] [--stop-at K]`` (argv without ``train``)."""
    p = argparse.ArgumentParser(prog="python -m airlib train", description="Train AIR or DAIR on multi-MNIST.")
    p.add_argument("experiment", choices=sorted(MODELS))
    p.add_argument("--profile", default="paper")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--run-dir", default=None)
    p.add_argument("--stop-at", type=int, default=None, help="stop after this step (resume later)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    cmd = f"python -m airlib train {args.experiment} --profile {args.profile} --seed {args.seed}"
    rec = train(args.experiment, args.profile, args.seed, args.run_dir, args.stop_at, not args.no_progress,
                command=cmd)
    print(json.dumps({k: rec[k] for k in ("experiment", "seed", "steps", "wall_time_s", "device")}
                     | {"final": rec.get("final")}))
    return 0


if __name__ == "__main__":
    argv = sys.argv[1:]
    sys.exit(main(argv[1:] if argv[:1] == ["train"] else argv))
