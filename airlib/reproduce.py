"""Everything the book uses, from scratch: ``python -m airlib reproduce`` and ``python -m airlib list``.

The runs behind the book are derived, not listed: every committed training artifact and every run a
recorded study needs (:func:`airlib.evaluations.book_runs`). ``reproduce`` trains them as one sweep
(:mod:`airlib.sweep`: local processes, one thread per job, ``--jobs`` at once, or Ray tasks) into
``runs/reproduce/``, promotes them into ``runs/reproduce/artifacts``, redoes every study (:mod:`airlib.evaluations`) from
them and builds the book from there
(``AIRLIB_ARTIFACTS``), so the committed ``artifacts/`` are never touched. Run again, it skips the
finished runs and resumes the others.
"""
from __future__ import annotations

import os
import subprocess
import sys

from . import evaluations, experiments, runs
from .pretrained import available_seeds, check_record

OUT = runs.RUNS / "reproduce"


def list_experiments(check_data: bool = True) -> int:
    """Prints every experiment with its committed seeds, their metric and whether they are current, then every study."""
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
    for name in evaluations.names():
        ev = evaluations.get(name)
        print(f"{name} (study): {ev.summary}")
        stem = runs.artifact_stem(name, 0)
        if not stem.with_suffix(".json").exists():
            print(f"  no committed record; make it with: {ev.command('paper')}")
            continue
        record = runs.load_record(stem)
        problems = evaluations.check_record(name, record, data=check_data)
        print(f"  {record['wall_time_s'] / 60:.1f} min on {record['device']}, "
              f"{'current' if not problems else 'STALE: ' + '; '.join(problems)}")
    return 0


def book_runs(only=None) -> list[tuple[str, int]]:
    """The (experiment, seed) runs of the book, optionally only some experiments."""
    for name in only or ():
        experiments.get(name)          # unknown names fail here, with the list of known ones
    return [(name, s) for name, s in evaluations.book_runs() if not only or name in only]


def reproduce(only=None, jobs: int = 2, book: bool = True, backend: str = "local", address: str | None = None,
              device: str = "cpu") -> int:
    """Trains every run of the book (or of the experiments ``only``) as one sweep, promotes them into
    ``runs/reproduce/artifacts``, redoes the studies that read them, builds the book.

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
    for name in evaluations.names():
        if not only or {n.experiment for n in evaluations.get(name).needs} & set(only):
            subprocess.run([sys.executable, "-m", "airlib", "evaluate", name], env=env, check=True)
            runs.promote(runs.RUNS / f"{name}-paper", artifacts, replace=True)
    print(f"reproduce: trained {len(result['done'])} runs ({len(result['skipped'])} were finished) in "
          f"{result['wall_time_s'] / 60:.1f} min on the {backend} backend, {jobs} jobs at once")
    if book:
        return subprocess.run([sys.executable, "-m", "airlib", "book", "--profile", "paper"], env=env).returncode
    return 0
