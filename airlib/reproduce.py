"""Everything the book uses, from scratch: ``python -m airlib reproduce`` and ``python -m airlib list``.

``BOOK`` lists the runs behind the book's artifacts. ``reproduce`` trains them as one sweep
(:mod:`airlib.sweep`: local processes, one thread per job, ``--jobs`` at once, or Ray tasks) into
``runs/reproduce/``, promotes them into ``runs/reproduce/artifacts`` and builds the book from there
(``AIRLIB_ARTIFACTS``), so the committed ``artifacts/`` are never touched. Run again, it skips the
finished runs and resumes the others.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from . import experiments, runs
from .pretrained import available_seeds, check_record

# (experiment, seeds): the runs whose records (and, for some, weights) the book reads.
BOOK = (("air-multi-mnist", tuple(range(10))), ("dair-multi-mnist", tuple(range(10))),
        ("air-counts-012", (0,)), ("dair-counts-012", (0,)), ("air-counts-013", (0, 1, 2)),
        ("dair-counts-013", (0, 1, 2)), ("draw-multi-mnist", (0,)), ("cae-multi-mnist", (0,)),
        ("3d-air", tuple(range(10))), ("3d-supervised", (0,)), ("tabletop-air", (0,)), ("tabletop-air-norep", (0,)),
        ("tabletop-air-camera", (0,)), ("tabletop-supervised", (0,)), ("tabletop-supervised-norep", (0,)),
        ("tabletop-supervised-bytype", (0,)), ("tabletop-supervised-bytype-norep", (0,)),
        ("tabletop-air-perturbed", (0,)), ("tabletop-dair", tuple(range(10))), ("tabletop-dair-camera", (0,)))
REPRESENTATIONS = {"air-multi-mnist", "cae-multi-mnist", "draw-multi-mnist"}   # the inputs of Fig. 7's study
OUT = runs.RUNS / "reproduce"


def list_experiments(check_data: bool = True) -> int:
    """Prints every experiment with its committed seeds, their metric and whether they are current."""
    for name in experiments.names():
        exp = experiments.get(name)
        seeds = available_seeds(name)
        print(f"{name}: {exp.summary}")
        if not seeds:
            print(f"  no committed seeds; train with: {exp.command('paper', 0)}")
        for seed in seeds:
            stem = runs.artifact_stem(name, seed)
            try:
                record = runs.load_record(stem)
            except runs.ArtifactError as e:
                print(f"  seed {seed}: {e}")
                continue
            metric = exp.success[0] if exp.success else next(iter(record["metrics"]), None)
            value = record["metrics"].get(metric) if metric else None
            problems = check_record(name, record, data=check_data)
            weights = "weights" if stem.with_suffix(".safetensors").exists() else "record only"
            state = "current" if not problems else "STALE: " + "; ".join(problems)
            verdict = "failed" if exp.failed(record) else "ok"
            print(f"  seed {seed}: {metric} {value if value is None else f'{value:.4f}'} ({verdict}), {weights}, "
                  f"{record['wall_time_s'] / 60:.1f} min on {record['device']}, data {state}")
    return 0


def evaluate_3d(profile: str = "paper", directory: Path | None = None, out: Path | None = None) -> Path:
    """Scores the committed 3D networks and direct optimisation into ``runs/3d-results-<profile>/``."""
    from .experiments import objects3d
    from .pretrained import load_pretrained
    nets = {m: load_pretrained(f"3d-{m}", 0, directory=directory) for m in ("air", "supervised")}
    stem = Path(out or runs.RUNS / f"3d-results-{profile}") / "model"
    objects3d.evaluate_all(profile, nets, stem, f"python -m airlib evaluate-3d --profile {profile}")
    return stem.parent


def book_runs(only=None) -> list[tuple[str, int]]:
    """The (experiment, seed) runs of the book, optionally only some experiments."""
    for name in only or ():
        experiments.get(name)          # unknown names fail here, with the list of known ones
    todo = [(name, s) for name, seeds in BOOK if not only or name in only for s in seeds]
    return sorted(todo, key=lambda job: job[1])      # seed-major: the seeds whose weights the book shows come first


def reproduce(only=None, jobs: int = 2, book: bool = True, backend: str = "local", address: str | None = None,
              device: str = "cpu") -> int:
    """Trains every run of ``BOOK`` (or ``only``) as one sweep, promotes them into ``runs/reproduce/artifacts``,
    builds the book.

    Args:
        backend: ``"local"`` (processes, ``jobs`` at once) or ``"ray"`` (tasks on the cluster at ``address``,
            or on a local one of ``jobs`` CPUs); see :mod:`airlib.sweep`.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``, for every run.
    """
    from . import sweep
    todo = [sweep.Job(name, "paper", seed, OUT / f"{name}-seed{seed}", (), device) for name, seed in book_runs(only)]
    OUT.mkdir(parents=True, exist_ok=True)
    artifacts = OUT / "artifacts"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", AIRLIB_ARTIFACTS=str(artifacts))
    result = sweep.run_jobs(todo, backend, jobs, address,
                            log=lambda line: print(line.replace("sweep:", "reproduce:", 1), flush=True))
    if result["failed"]:
        print(f"reproduce: {len(result['failed'])} runs failed: {sorted(result['failed'])}", file=sys.stderr)
        return 1
    for job in todo:
        runs.promote(job.run_dir, artifacts, replace=True)
    if not only or {"3d-air", "3d-supervised"} & set(only):
        subprocess.run([sys.executable, "-m", "airlib", "evaluate-3d"], env=env, check=True)
        runs.promote(runs.RUNS / "3d-results-paper", artifacts, replace=True)
    if not only or REPRESENTATIONS & set(only):
        subprocess.run([sys.executable, "-m", "airlib", "evaluate-representations"], env=env, check=True)
        runs.promote(runs.RUNS / "representations-results-paper", artifacts, replace=True)
    print(f"reproduce: trained {len(result['done'])} runs ({len(result['skipped'])} were finished) in "
          f"{result['wall_time_s'] / 60:.1f} min on the {backend} backend, {jobs} jobs at once")
    if book:
        return subprocess.run([sys.executable, "-m", "airlib", "book", "--profile", "paper"], env=env).returncode
    return 0
