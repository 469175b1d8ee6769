"""Everything the book uses, from scratch: ``python -m airlib reproduce`` and ``python -m airlib list``.

The runs behind the book are derived, not listed: every committed training artifact and every run a
recorded study needs (:func:`airlib.evaluations.book_runs`). ``reproduce`` trains them as one sweep
(:mod:`airlib.sweep`: local processes, one thread per job, ``--jobs`` at once, or Ray tasks) into
``runs/reproduce/``, promotes them into ``runs/reproduce/artifacts``, redoes every study (:mod:`airlib.evaluations`) from
them and builds the book from there
(``AIRLIB_ARTIFACTS``), so the committed ``artifacts/`` are never touched. Run again, it skips the
finished runs and resumes the others.

Four options narrow or preview that (:func:`select`, :func:`plan`): ``--quick`` trains only the seeds the
figures and studies read (:func:`quick_runs`), ``--figures`` only the seeds whose weights a figure or study draws
(:func:`figure_runs`) and copies the other seeds' committed records for the tables over seeds, labelled so on
each page (:func:`copy_records`, :func:`copied`), ``--chapter K`` only what chapter K's notebook reads
(:func:`chapter_reads`) and builds that chapter alone, and ``--plan`` runs nothing: it prints each run with
the wall time its committed record states and what the whole costs on ``--jobs`` cores.
"""
from __future__ import annotations

import heapq
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import evaluations, experiments, numerics, runs
from .claims import seeds_text
from .pretrained import available_seeds, check_record

OUT = runs.RUNS / "reproduce"
BOOK = runs.ROOT / "book"          # the executed chapters of the last build, each with its execution time


class ReproduceError(ValueError):
    """An option ``reproduce`` cannot honour (an unknown chapter, no worker), named with what would do."""


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
            drift = {True: f"; {numerics.STALE_TEXT}", None: "; numerics not recorded"}.get(numerics.stale(record), "")
            print(f"  seed {seed}: {metric} {value if value is None else f'{value:.4f}'} ({verdict}), {weights}, "
                  f"{record['wall_time_s'] / 60:.1f} min on {record['device']}, data {state}{drift}")
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
        try:
            experiments.get(name)
        except ValueError as e:        # an unknown name, with the list of known ones
            raise ReproduceError(str(e)) from None
    return [(name, s) for name, s in evaluations.book_runs() if not only or name in only]


def _first_and_loaded(todo: list[tuple[str, int]]) -> set[tuple[str, int]]:
    """Each experiment's smallest seed in ``todo`` (the seed of the figures) and every seed with committed weights."""
    first: dict[str, int] = {}
    for name, seed in todo:
        first[name] = min(seed, first.get(name, seed))
    return set(first.items()) | {(name, s) for name in first for s in available_seeds(name, weights=True)}


def quick_runs(todo: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The runs of ``todo`` that every figure needs: one seed per experiment and what chapters load by seed.

    Kept: each experiment's smallest seed in ``todo`` (seed 0, the seed of the figures), every seed a study
    needs (``tabletop-results`` reads ten ``tabletop-dair`` records, ``tabletop-transfer`` three seeds of each
    wake-sleep variant), and every seed whose weights are committed, since weights are committed only for the
    models a chapter loads (chapter 3 loads seeds 0-4 of chapter 2's networks, chapter 2 a seed that failed).
    Dropped: the seeds only the tables over seeds read, which then show fewer seeds.
    """
    keep = evaluations.needed_runs() | _first_and_loaded(todo)
    return [job for job in todo if job in keep]


def figure_runs(todo: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The runs of ``todo`` whose weights something draws: :func:`quick_runs` less the seeds a study reads as
    records only (``tabletop-results`` reads ten ``tabletop-dair`` records, 695 core-minutes of training); those
    come from the committed records (:func:`copy_records`)."""
    keep = evaluations.needed_runs(weights=True) | _first_and_loaded(todo)
    return [job for job in todo if job in keep]


# ------------------------------------------------------------------ committed records standing in for runs

COPIED = "copied"       # a record's key in a reproduction's artifacts: a committed record, not retrained


def copy_records(jobs, artifacts: Path) -> list[tuple[str, int]]:
    """Copies the committed records (not the weights) of ``jobs`` into ``artifacts``, each marked ``copied``.

    A seed already in ``artifacts`` (retrained) is left alone. Returns the runs copied.
    """
    done = []
    artifacts.mkdir(parents=True, exist_ok=True)
    for name, seed in jobs:
        source, target = runs.artifact_stem(name, seed), artifacts / f"{name}-seed{seed}.json"
        if target.exists() and COPIED not in json.loads(target.read_text()):
            continue
        record = runs.load_record(source)
        record[COPIED] = f"the committed record (commit {record.get('commit')}), not retrained"
        target.write_text(json.dumps(record, indent=1))
        done.append((name, seed))
    return done


def copied(directory: Path | None = None) -> dict[str, list[int]]:
    """``{experiment: [seeds]}`` of the records in ``directory`` (default the artifacts in use) that a
    reproduction copied rather than retrained (:func:`copy_records`)."""
    out: dict[str, list[int]] = {}
    for path in sorted(Path(directory or runs.ARTIFACTS).glob("*-seed*.json")):
        try:
            record = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(record, dict) and COPIED in record:
            out.setdefault(record.get("experiment") or path.stem.rsplit("-seed", 1)[0], []).append(record["seed"])
    return {name: sorted(seeds) for name, seeds in out.items()}


def copied_note(names, directory: Path | None = None) -> str | None:
    """One sentence for a page that reads the experiments ``names``: which of their seeds are committed records
    rather than runs of this reproduction; None when none is."""
    found = {n: s for n, s in copied(directory).items() if n in set(names)}
    if not found:
        return None
    parts = [f"`{name}` {seeds_text(seeds)}" for name, seeds in sorted(found.items())]
    return ("This reproduction retrained the seeds whose weights a figure draws; the tables over seeds also read "
            "committed records that it did not retrain: " + "; ".join(parts) + ".")


# ------------------------------------------------------------------ what a chapter reads

_QUOTED = re.compile(r"""["']([a-z0-9][a-z0-9-]*)["']""")                 # "air-multi-mnist"
_REPLACE = re.compile(r"""\.replace\(\s*["']([^"'\n]+)["']\s*,\s*["']([^"'\n]*)["']\s*\)""")
_FROM_IMPORT = re.compile(r"^from (airlib[\w.]*) import ([\w ,]+?)\s*(?:#.*)?$", re.M)
_IMPORT_AS = re.compile(r"^import (airlib[\w.]*) as (\w+)", re.M)
_CLAIMS = re.compile(r"\bclaims\.table\(([^)]*)\)")


def chapters() -> dict[int, Path]:
    """The book's chapters by number: ``{2: notebooks/02_multi_mnist.py, ...}``."""
    from .book.common import notebooks
    return {int(p.name[:2]): p for p in notebooks()}


def chapter_path(chapter: int) -> Path:
    """The notebook of chapter ``chapter``; a ReproduceError naming the chapters when there is none."""
    known = chapters()
    if chapter not in known:
        raise ReproduceError(f"no chapter {chapter}: the chapters are {', '.join(map(str, sorted(known)))} "
                             f"(notebooks/NN_*.py)")
    return known[chapter]


def _strings(value):
    """Every string in a constant (a string, or containers of them), e.g. a dict of labels to experiment names."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            yield from _strings(v)


def _module_constants(source: str) -> set[str]:
    """The strings of the airlib modules' constants the source reads as ``alias.NAME`` (``study.SLEEP``)."""
    aliases = {alias: module for module, alias in _IMPORT_AS.findall(source)}
    for package, names in _FROM_IMPORT.findall(source):
        for part in names.split(","):
            name, _, alias = part.strip().partition(" as ")
            aliases[(alias or name).strip()] = f"{package}.{name.strip()}"
    found = set()
    for alias, module in aliases.items():
        constants = set(re.findall(rf"\b{re.escape(alias)}\.([A-Z][A-Z0-9_]*)\b", source))
        if not constants:
            continue
        try:
            mod = importlib.import_module(module)
        except ImportError:                       # a function imported from a module, not a module
            continue
        for const in constants:
            found |= set(_strings(getattr(mod, const, None)))
    return found


def chapter_reads(chapter: int, _seen: frozenset = frozenset()) -> set[str]:
    """The experiments and studies chapter ``chapter``'s notebook reads, found in its source.

    A name counts when the source quotes it (``load_or_train("air-multi-mnist", ...)``, ``seed_records(...)``,
    ``evaluations.load(...)``, a dict of names), when a ``.replace("a", "b")`` in it turns a quoted name into it
    (chapter 3 loads chapter 2's networks so), or when it is in an airlib constant the source reads
    (``study.SLEEP``). A chapter that shows the claims (``claims.table``) reads what the chapters of those
    claims read: a claim's number is measured on the records of the chapter that presents it.
    """
    source = chapter_path(chapter).read_text()
    found = set(_QUOTED.findall(source))
    for old, new in _REPLACE.findall(source):
        found |= {name.replace(old, new) for name in found if old in name}
    found |= _module_constants(source)
    names = found & (set(experiments.names()) | set(evaluations.names()))
    for args in _CLAIMS.findall(source):
        which = re.search(r"chapter\s*=\s*(\d+)", args)
        for other in [int(which.group(1))] if which else sorted(chapters()):
            if other != chapter and other not in _seen:
                names |= chapter_reads(other, _seen | {chapter})
    return names


# ------------------------------------------------------------------ what a reproduction does

@dataclass(frozen=True)
class Selection:
    """What ``reproduce`` trains, redoes and builds.

    Attributes:
        runs: (experiment, seed) to train, in the order they are submitted (seed-major).
        studies: the studies redone from them, in order.
        chapter: the notebook to build alone, or None for the whole book.
        unrecorded: experiments the chapter reads that have no committed run (nothing to retrain).
        quick: whether the runs were cut to :func:`quick_runs`.
        figures: whether they were cut to :func:`figure_runs`.
        copied: the runs of the scope not retrained, whose committed records are copied (with ``figures``).
    """
    runs: tuple[tuple[str, int], ...]
    studies: tuple[str, ...]
    chapter: Path | None = None
    unrecorded: tuple[str, ...] = ()
    quick: bool = False
    figures: bool = False
    copied: tuple[tuple[str, int], ...] = ()


def select(only=None, quick: bool = False, chapter: int | None = None, figures: bool = False) -> Selection:
    """The runs, studies and chapters of a reproduction: of the whole book, of the experiments ``only``, of
    chapter ``chapter`` (the runs its notebook reads and those its studies need), each cut to
    :func:`quick_runs` with ``quick`` or to :func:`figure_runs` with ``figures``."""
    if quick and figures:
        raise ReproduceError("--quick and --figures are two cuts of the runs: choose one")
    todo = book_runs(only)
    # with ``only``, a study is redone when every run it reads is reproduced (else it would mix in committed runs)
    inputs = {n: {m.experiment for m in evaluations.get(n).needs} for n in evaluations.names()}
    studies = [n for n, exps in inputs.items() if not only or exps and exps <= set(only)]
    path, unrecorded = None, ()
    if chapter is not None:
        path, reads = chapter_path(chapter), chapter_reads(chapter)
        studies = [n for n in studies if n in reads]
        named = reads & set(experiments.names())
        needed = {(m.experiment, s) for n in studies for m in evaluations.get(n).needs for s in m.seeds}
        todo = [job for job in todo if job[0] in named or job in needed]
        unrecorded = tuple(sorted(named - {name for name, _ in book_runs()}))
    scope = todo
    if quick:
        todo = quick_runs(todo)
    if figures:
        todo = figure_runs(todo)
    left = tuple(job for job in scope if job not in set(todo)) if figures else ()
    return Selection(tuple(todo), tuple(studies), path, unrecorded, quick, figures, left)


def schedule(times: list[float], workers: int, order: list[int] | None = None) -> tuple[float, list[list[int]]]:
    """List scheduling: each job in turn (``order``, default longest first) goes to the worker that is free first.

    Longest first is Graham's LPT rule, whose makespan is within ``4/3 - 1/(3 workers)`` of the best schedule's.

    Returns:
        ``(makespan, jobs)``: the time the last worker finishes, and each worker's job indices.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ReproduceError(f"jobs must be a positive integer, got {workers!r}")
    if order is None:
        order = sorted(range(len(times)), key=lambda i: -times[i])
    free = [(0.0, w) for w in range(workers)]
    jobs: list[list[int]] = [[] for _ in range(workers)]
    for i in order:
        load, w = heapq.heappop(free)
        jobs[w].append(i)
        heapq.heappush(free, (load + times[i], w))
    return max(load for load, _ in free), jobs


def recorded_minutes(name: str, seed: int = 0) -> tuple[float | None, str | None]:
    """``(minutes, device)`` of a committed run or study, from its record's ``wall_time_s``; ``(None, None)``
    without a record."""
    try:
        record = runs.load_record(runs.artifact_stem(name, seed))
    except runs.ArtifactError:
        return None, None
    return record["wall_time_s"] / 60, record["device"]


def book_seconds(stems: list[str], book_dir: Path = BOOK) -> dict[str, float | None]:
    """Each chapter's execution time (s) at the last paper-profile build, from its executed copy's metadata."""
    from .book.pipeline import RECORD
    out = {}
    for stem in stems:
        try:
            meta = json.loads((Path(book_dir) / f"{stem}.ipynb").read_text())["metadata"].get(RECORD, {})
        except (OSError, ValueError, KeyError):
            meta = {}
        out[stem] = meta.get("seconds") if meta.get("profile") == "paper" else None
    return out


def estimate(chosen: Selection, jobs: int = 2) -> dict:
    """What ``chosen`` costs by the committed records, as numbers (what :func:`plan` prints, less the book).

    Returns:
        ``run_minutes`` and ``run_devices`` (each run's recorded wall time and device, None without a record, in
        the order runs are submitted), ``runs`` (with records), ``unknown`` (runs without one), ``core_minutes``
        (their wall times summed), ``training_minutes`` (the makespan on ``jobs`` cores, longest first),
        ``study_minutes`` (the studies one after another; ``study_minutes_each``: each, None without a record)
        and ``core_minutes_by_experiment``.
    """
    recorded = {job: recorded_minutes(*job) for job in chosen.runs}
    run_minutes = {job: minutes for job, (minutes, _) in recorded.items()}
    known = [minutes for minutes in run_minutes.values() if minutes is not None]
    by_experiment: dict[str, float] = {}
    for (name, _), minutes in run_minutes.items():
        if minutes is not None:
            by_experiment[name] = by_experiment.get(name, 0.0) + minutes
    each = {name: recorded_minutes(name, 0)[0] for name in chosen.studies}
    return dict(run_minutes=run_minutes, run_devices={job: device for job, (_, device) in recorded.items()},
                runs=len(known), unknown=len(run_minutes) - len(known), core_minutes=sum(known),
                training_minutes=schedule(known, jobs)[0], core_minutes_by_experiment=by_experiment,
                study_minutes_each=each, study_minutes=sum(minutes or 0.0 for minutes in each.values()))


def _hours(minutes: float) -> str:
    return f"{minutes:.1f} min ({minutes / 60:.1f} h)"


def plan(chosen: Selection, jobs: int = 2, book: bool = True, book_dir: Path = BOOK) -> str:
    """What a reproduction costs, from the committed records, as text: each run's recorded core-minutes, their
    total, the wall time on ``jobs`` cores (longest first, and in the order runs are submitted), each study's
    recorded minutes and the book's build time as last recorded."""
    cut = (", --quick (the seeds the figures and studies read)" if chosen.quick else
           ", --figures (the seeds whose weights are drawn; committed records for the rest)" if chosen.figures else
           ", every committed seed")
    scope = (f"chapter {chosen.chapter.stem}" if chosen.chapter else "the whole book") + cut
    lines = [f"reproduce plan for {scope}: {len(chosen.runs)} training runs, {len(chosen.studies)} studies, "
             f"{jobs} jobs at once (one thread each); nothing is run"]
    est = estimate(chosen, jobs)
    devices = sorted({d for d in est["run_devices"].values() if d})
    lines.append("Training runs, each with its record's wall time (core-minutes)"
                 + (f", recorded on {'; '.join(devices)}:" if devices else ":"))
    for name, seed in sorted(chosen.runs):
        minutes, device = est["run_minutes"][name, seed], est["run_devices"][name, seed]
        text = "no record (unknown cost)" if minutes is None else f"{minutes:7.1f} core-min"
        if device and not device.startswith("cpu"):
            text += f" (on {device}: not CPU minutes)"
        lines.append(f"  {name:36s} seed {seed:<3d} {text}")
    times = [minutes for minutes in est["run_minutes"].values() if minutes is not None]
    unknown, core, makespan = est["unknown"], est["core_minutes"], est["training_minutes"]
    submitted, _ = schedule(times, jobs, list(range(len(times))))
    lines.append(f"Training: {est['runs']} runs with records, {core:.1f} core-minutes ({core / 60:.1f} "
                 f"core-hours)" + (f"; {unknown} runs of unknown cost not counted" if unknown else ""))
    lines.append(f"Training wall time with --jobs {jobs}: {_hours(makespan)} longest first; "
                 f"{_hours(submitted)} in the order reproduce submits them (seed-major)")
    lines.append("Studies, redone one after another from the new runs (their records' wall time):")
    for name, minutes in est["study_minutes_each"].items():
        unknown += minutes is None
        lines.append(f"  {name:36s} " + ("no record (unknown cost)" if minutes is None else f"{minutes:7.1f} min"))
    study_minutes = est["study_minutes"]
    lines.append(f"Studies: {study_minutes:.1f} min" if chosen.studies else "Studies: none")
    book_minutes = 0.0
    if book:
        stems = [chosen.chapter.stem] if chosen.chapter else [p.stem for p in chapters().values()]
        seconds = book_seconds(stems, book_dir)
        missing = [s for s, v in seconds.items() if v is None]
        unknown += len(missing)
        book_minutes = sum(v for v in seconds.values() if v is not None) / 60
        where = f"{Path(book_dir).name}/NN_*.ipynb"
        if missing:
            lines.append(f"Book: not known for {', '.join(missing)} (no paper-profile execution recorded in {where}); "
                         f"the others took {book_minutes:.1f} min")
        else:
            lines.append(f"Book: executing {len(stems)} chapter{'s' * (len(stems) > 1)} took {book_minutes:.1f} min "
                         f"at the last build ({where}); jupyter-book's own step and the page check are not recorded")
    total = makespan + study_minutes + book_minutes
    lines.append(f"Expected wall time: {makespan:.1f} (training) + {study_minutes:.1f} (studies) + "
                 f"{book_minutes:.1f} (book) = {_hours(total)}" + (" + the costs not known above" if unknown else ""))
    if chosen.copied:
        lines.append(f"Not retrained: {len(chosen.copied)} runs whose committed records the tables over seeds read "
                     "(copied, and named so on each page that reads them)")
    if chosen.unrecorded:
        lines.append("Read by the chapter but with no committed run (nothing to retrain): "
                     + ", ".join(chosen.unrecorded))
    return "\n".join(lines)


def _copy_documents(artifacts: Path) -> list[str]:
    """Copies the committed JSON documents that are not a run's record (the recipe's ablation, read by the
    claims) into ``artifacts``: nothing retrains them. Returns their names."""
    copied = []
    for path in sorted(runs.ARTIFACTS.glob("*.json")):
        if not re.search(r"-seed\d+$", path.stem) and not (artifacts / path.name).exists():
            artifacts.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, artifacts / path.name)
            copied.append(path.name)
    return copied


def reproduce(only=None, jobs: int = 2, book: bool = True, backend: str = "local", address: str | None = None,
              device: str = "cpu", quick: bool = False, chapter: int | None = None, figures: bool = False) -> int:
    """Trains every run of the book (or of the experiments ``only``) as one sweep, promotes them into
    ``runs/reproduce/artifacts``, redoes the studies that read them, builds the book.

    Args:
        backend: ``"local"`` (processes, ``jobs`` at once) or ``"ray"`` (tasks on the cluster at ``address``,
            or on a local one of ``jobs`` CPUs); see :mod:`airlib.sweep`.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``, for every run.
        quick: only the seeds the figures and studies read (:func:`quick_runs`).
        chapter: only what chapter ``chapter`` reads (:func:`select`); then build that chapter alone.
        figures: only the seeds whose weights are drawn (:func:`figure_runs`); the other seeds' committed
            records are copied for the tables over seeds and each page names them.
    """
    from . import sweep
    chosen = select(only, quick, chapter, figures)
    todo = [sweep.Job(name, "paper", seed, OUT / f"{name}-seed{seed}", (), device) for name, seed in chosen.runs]
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
    documents = _copy_documents(artifacts)
    if documents:
        print(f"reproduce: copied the committed documents {', '.join(documents)} (not runs: nothing retrains them)")
    if chosen.copied:
        n = len(copy_records(chosen.copied, artifacts))
        print(f"reproduce: copied {n} committed records the tables over seeds read (not retrained; each page says so)")
    for name in chosen.studies:
        subprocess.run([sys.executable, "-m", "airlib", "evaluate", name], env=env, check=True)
        runs.promote(runs.RUNS / f"{name}-paper", artifacts, replace=True)
    print(f"reproduce: trained {len(result['done'])} runs ({len(result['skipped'])} were finished) in "
          f"{result['wall_time_s'] / 60:.1f} min on the {backend} backend, {jobs} jobs at once")
    if book:
        only_chapter = ["--chapter", chosen.chapter.stem[:2]] if chosen.chapter else []
        return subprocess.run([sys.executable, "-m", "airlib", "book", "--profile", "paper", *only_chapter],
                              env=env).returncode
    return 0
