"""Sweeps: a list of training jobs, run on local processes or on a Ray cluster, with the same records.

A job is one call of the run layer, ``python -m airlib train EXPERIMENT --profile P --seed S --set K=V
--run-dir D``, whatever the backend: the local backend starts that command as a process, and the Ray
backend starts the same command inside a Ray task (one CPU each, and one GPU with ``--device cuda``),
then sends the run's record, metrics and weights back to the driver, which writes them into the run
folder under ``runs/``. So the records are the same wherever a job ran, but for wall time and host
(:func:`comparable`). A sweep file (TOML, or YAML when PyYAML is installed) names::

    name = "air-seeds"                 # its folder: runs/sweeps/air-seeds/
    experiment = "air-multi-mnist"     # python -m airlib list
    profile = "paper"
    seeds = [0, 1, 2]                  # or {start = 0, stop = 10}
    [set]                              # overrides every job shares (optional)
    "train.steps" = 1000
    [grid]                             # overrides to cross with each other and the seeds (optional)
    "train.clip" = [10.0, 10000.0]

A job that fails is reported and retried once (resuming from its checkpoint); the others carry on.
Running a sweep again skips finished jobs and resumes unfinished ones.
"""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import experiments, runs
from .profiles import check as check_profile

SWEEPS = runs.RUNS / "sweeps"
SPEC_KEYS = {"name", "experiment", "profile", "seeds", "set", "grid"}
BACKENDS = ("local", "ray")
DEVICES = ("cpu", "cuda", "auto")
# Record fields that say when and where a run ran, not what it computed.
TIMING_KEYS = ("wall_time_s", "train_time_s", "host", "promoted")
HISTORY_TIMING_KEYS = ("step_time", "train_time")
RUN_FILES = ("model.json", "model.safetensors", "metrics.jsonl")


class SweepError(ValueError):
    """A sweep file or option that cannot be run, named with what is wrong."""


@dataclass(frozen=True)
class Job:
    """One training run: ``python -m airlib train`` with these arguments into ``run_dir``."""
    experiment: str
    profile: str
    seed: int
    run_dir: Path
    overrides: tuple = ()           # ((key, value), ...) sorted by key
    device: str = "cpu"

    @property
    def name(self) -> str:
        return self.run_dir.name

    def argv(self) -> list[str]:
        """The arguments of ``python -m airlib train`` (the command the record states)."""
        sets = [a for k, v in self.overrides for a in ("--set", f"{k}={json.dumps(v)}")]
        return [self.experiment, "--profile", self.profile, "--seed", str(self.seed), *sets,
                "--device", self.device, "--run-dir", str(self.run_dir), "--no-progress"]

    def record(self) -> dict | None:
        """The finished record of exactly this job in its run folder, or None."""
        try:
            record = json.loads((self.run_dir / "model.json").read_text())
        except (OSError, ValueError):
            return None
        mine = (record.get("finished") is True and record.get("experiment") == self.experiment
                and record.get("profile") == self.profile and record.get("seed") == self.seed
                and runs._jsonable(record.get("overrides") or {}) == runs._jsonable(dict(self.overrides))
                and (self.run_dir / "model.safetensors").exists())
        return record if mine else None

    def finished(self) -> bool:
        """Whether the run folder holds a finished record of exactly this job."""
        return self.record() is not None


@dataclass
class Spec:
    """A parsed sweep file."""
    name: str
    experiment: str
    profile: str
    seeds: list[int]
    fixed: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)


def load_spec(path, extra: dict | None = None) -> Spec:
    """Reads and checks a sweep file (``.toml``, or ``.yaml``/``.yml`` with PyYAML installed).

    Args:
        extra: overrides added to the file's ``set`` (the command line's ``--set``).
    """
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"no sweep file {path}")
    try:
        if path.suffix == ".toml":
            import tomllib
            raw = tomllib.loads(path.read_text())
        elif path.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ModuleNotFoundError:
                raise SweepError(f"{path}: reading YAML needs PyYAML (pip install pyyaml), or write it as TOML") from None
            raw = yaml.safe_load(path.read_text())
        else:
            raise SweepError(f"{path}: a sweep file ends in .toml, .yaml or .yml")
    except SweepError:
        raise
    except Exception as e:                  # the parsers' own errors carry the line
        raise SweepError(f"{path} does not parse: {e}") from None
    if extra and isinstance(raw, dict):
        raw = dict(raw, set=dict(raw.get("set") or {}, **extra))
    return parse_spec(raw, default_name=path.stem, where=str(path))


def parse_spec(raw, default_name: str = "sweep", where: str = "the sweep") -> Spec:
    """Checks a sweep's dict (as a sweep file holds it) and returns a :class:`Spec`."""
    if not isinstance(raw, dict):
        raise SweepError(f"{where} must be a table of keys ({', '.join(sorted(SPEC_KEYS))})")
    unknown = set(raw) - SPEC_KEYS
    if unknown:
        raise SweepError(f"{where}: unknown keys {sorted(unknown)}; known: {', '.join(sorted(SPEC_KEYS))}")
    if "experiment" not in raw:
        raise SweepError(f"{where} names no experiment (python -m airlib list shows them)")
    try:
        experiments.get(raw["experiment"])
        profile = check_profile(raw.get("profile", "paper"))
    except ValueError as e:
        raise SweepError(f"{where}: {e}") from None
    seeds = raw.get("seeds", [0])
    if isinstance(seeds, dict):
        if set(seeds) - {"start", "stop"} or "stop" not in seeds:
            raise SweepError(f"{where}: seeds as a table is {{start = A, stop = B}} (B excluded), got {seeds}")
        seeds = list(range(seeds.get("start", 0), seeds["stop"]))
    if (not isinstance(seeds, list) or not seeds
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds)):
        raise SweepError(f"{where}: seeds must be a non-empty list of non-negative integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise SweepError(f"{where}: seeds repeat: {seeds}")
    fixed, grid = raw.get("set", {}) or {}, raw.get("grid", {}) or {}
    if not isinstance(fixed, dict) or not isinstance(grid, dict):
        raise SweepError(f"{where}: 'set' and 'grid' are tables of configuration keys")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"{where}: grid.{key} must be a non-empty list of values, got {values!r}")
    both = set(fixed) & set(grid)
    if both:
        raise SweepError(f"{where}: {sorted(both)} are both set and swept")
    name = str(raw.get("name", default_name))
    if not name or "/" in name or name.startswith("."):
        raise SweepError(f"{where}: name must be a plain folder name, got {name!r}")
    spec = Spec(name, raw["experiment"], profile, seeds, dict(fixed), dict(grid))
    for overrides in configurations(spec):   # unknown keys fail here, naming the known fields
        try:
            experiments.config(spec.experiment, spec.profile, overrides)
        except (ValueError, TypeError) as e:
            raise SweepError(f"{where}: {e}") from None
    return spec


def configurations(spec: Spec) -> list[dict]:
    """Every configuration of the grid (with the fixed overrides), in the grid's order."""
    keys = list(spec.grid)
    return [dict(spec.fixed, **dict(zip(keys, values))) for values in itertools.product(*spec.grid.values())]


def expand(spec: Spec, out: Path | None = None, device: str = "cpu") -> list[Job]:
    """The sweep's jobs, configuration-major, into ``out`` (default ``runs/sweeps/<name>``)."""
    out = Path(out or SWEEPS / spec.name)
    return [Job(spec.experiment, spec.profile, seed, out / runs.run_name(spec.experiment, spec.profile, seed, overrides),
                tuple(sorted(overrides.items())), device)
            for overrides in configurations(spec) for seed in spec.seeds]


# ------------------------------------------------------------------ executing a job

def execute(job: Job, env: dict | None = None) -> dict[str, bytes]:
    """Runs one job as ``python -m airlib train ...`` in a fresh process; returns its run files' bytes.

    The process's output goes to ``run_dir/train.log``. Raises a RuntimeError with the log's tail when
    the command fails.
    """
    job.run_dir.mkdir(parents=True, exist_ok=True)
    log_path = job.run_dir / "train.log"
    env = dict(os.environ if env is None else env, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with open(log_path, "a") as log:
        proc = subprocess.run([sys.executable, "-m", "airlib", "train", *job.argv()], stdout=log,
                              stderr=subprocess.STDOUT, env=env, cwd=runs.ROOT)
    if proc.returncode != 0:
        tail = log_path.read_text()[-1500:].strip()
        raise RuntimeError(f"{job.name} exited with {proc.returncode}; the end of {log_path}:\n{tail}")
    return {name: (job.run_dir / name).read_bytes() for name in RUN_FILES}


def collect(job: Job, files: dict[str, bytes]) -> None:
    """Writes a job's run files into its run folder on this machine (a remote worker's come over Ray)."""
    for name, data in files.items():
        path = job.run_dir / name
        if not path.exists() or path.read_bytes() != data:
            runs._atomic(path, lambda tmp, data=data: tmp.write_bytes(data))


class LocalBackend:
    """Jobs as processes on this machine, ``jobs`` at a time (one thread each)."""
    name = "local"

    def __init__(self, jobs: int = 2):
        from concurrent.futures import ThreadPoolExecutor
        self.pool = ThreadPoolExecutor(max_workers=jobs)    # threads only wait on the processes

    def submit(self, job: Job):
        return self.pool.submit(execute, job)

    def wait(self, pending: list):
        from concurrent.futures import FIRST_COMPLETED, wait
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        return [(f, f.exception(), None if f.exception() else f.result()) for f in done]

    def close(self) -> None:
        self.pool.shutdown()


class RayBackend:
    """Jobs as Ray tasks: on a local cluster (``ray.init(num_cpus=jobs)``) or the cluster at ``address``."""
    name = "ray"

    def __init__(self, jobs: int = 2, address: str | None = None):
        try:
            import ray
        except ModuleNotFoundError:
            raise SweepError("the Ray backend needs Ray: pip install 'airlib[cluster]'") from None
        self.ray = ray
        self.started = not ray.is_initialized()
        if self.started:
            kwargs = dict(address=address) if address else dict(num_cpus=jobs, include_dashboard=False)
            ray.init(log_to_driver=False, configure_logging=False, **kwargs)
        self.remote = ray.remote(execute)

    def submit(self, job: Job):
        gpus = 1 if job.device == "cuda" else 0
        return self.remote.options(num_cpus=1, num_gpus=gpus, max_retries=0).remote(job)

    def wait(self, pending: list):
        done, _ = self.ray.wait(pending, num_returns=1)
        out = []
        for ref in done:
            try:
                out.append((ref, None, self.ray.get(ref)))
            except Exception as e:                     # RayTaskError wraps the job's own error
                out.append((ref, getattr(e, "cause", None) or e, None))
        return out

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def backend(name: str, jobs: int = 2, address: str | None = None):
    """A backend by name: ``local`` (processes) or ``ray``."""
    if name not in BACKENDS:
        raise SweepError(f"unknown backend {name!r}: expected one of {', '.join(BACKENDS)}")
    if address and name != "ray":
        raise SweepError("--address names a Ray cluster: use it with --backend ray")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise SweepError(f"jobs must be a positive integer, got {jobs!r}")
    return LocalBackend(jobs) if name == "local" else RayBackend(jobs, address)


# ------------------------------------------------------------------ running a list of jobs

def run_jobs(todo: list[Job], backend_name: str = "local", jobs: int = 2, address: str | None = None,
             retries: int = 1, log=print) -> dict:
    """Runs jobs on a backend: finished ones are skipped, a failed one is retried ``retries`` times.

    Returns:
        ``{"backend", "jobs", "wall_time_s", "done", "skipped", "failed": {name: error}, "attempts": {name: n}}``.
    """
    names = [j.name for j in todo]
    if len(set(names)) != len(names):
        raise SweepError("two jobs share a run folder: " + ", ".join(sorted({n for n in names if names.count(n) > 1})))
    start = time.time()
    skipped = [j for j in todo if j.finished()]
    for j in skipped:
        log(f"sweep: {j.name} is finished; skipped")
    queue = [j for j in todo if j not in skipped]
    attempts, failed, done = {}, {}, []
    if queue:
        runner = backend(backend_name, jobs, address)
        try:
            pending = {}
            for j in queue:
                pending[runner.submit(j)] = j
                attempts[j.name] = 1
            while pending:
                for handle, error, files in runner.wait(list(pending)):
                    job = pending.pop(handle)
                    if error is None:
                        collect(job, files)
                        done.append(job.name)
                        log(f"sweep: {job.name} done ({len(done) + len(skipped)}/{len(todo)}, "
                            f"{(time.time() - start) / 60:.1f} min)")
                    elif attempts[job.name] <= retries:
                        attempts[job.name] += 1
                        log(f"sweep: {job.name} FAILED ({_first_line(error)}); retrying from its checkpoint")
                        pending[runner.submit(job)] = job
                    else:
                        failed[job.name] = str(error)
                        log(f"sweep: {job.name} FAILED again; giving up on it:\n{error}")
        finally:
            runner.close()
    return dict(backend=backend_name, jobs=jobs, wall_time_s=time.time() - start, done=done,
                skipped=[j.name for j in skipped], failed=failed, attempts=attempts)


def _first_line(error) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


def run_sweep(spec: Spec, backend_name: str = "local", jobs: int = 2, address: str | None = None,
              device: str = "cpu", out: Path | None = None, log=print) -> dict:
    """Runs a sweep's jobs and writes its summary ``runs/sweeps/<name>/sweep.json`` (appending each run)."""
    if device not in DEVICES:
        raise SweepError(f"unknown device {device!r}: expected one of {', '.join(DEVICES)}")
    todo = expand(spec, out, device)
    result = run_jobs(todo, backend_name, jobs, address, log=log)
    folder = Path(out or SWEEPS / spec.name)
    summary_path = folder / "sweep.json"
    try:
        previous = json.loads(summary_path.read_text())["runs"]
    except (OSError, ValueError, KeyError):
        previous = []
    runs.write_json(summary_path, dict(spec=vars(spec), jobs=[j.name for j in todo],
                                       runs=previous + [dict(result, host=runs.host(), finished_at=time.strftime(
                                           "%Y-%m-%d %H:%M:%S"))]))
    log(f"sweep: {len(result['done'])} trained, {len(result['skipped'])} skipped, {len(result['failed'])} failed, "
        f"in {result['wall_time_s'] / 60:.1f} min on the {backend_name} backend")
    return result


# ------------------------------------------------------------------ comparing and summarising records

def comparable(record: dict) -> dict:
    """A record without what says when and where it ran (wall time, step times, host): what a run computed."""
    out = {k: v for k, v in record.items() if k not in TIMING_KEYS}
    out["history"] = [{k: v for k, v in h.items() if k not in HISTORY_TIMING_KEYS} for h in record.get("history", [])]
    return out


def records(todo: list[Job]) -> dict[str, dict | None]:
    """Each job's finished record (None where it has none yet)."""
    return {j.name: j.record() for j in todo}


def summarise(spec: Spec, todo: list[Job]) -> list[dict]:
    """Per configuration: finished runs, successes, and the spread over seeds of the experiment's metric.

    The metric is the experiment's success metric (e.g. ``test_count_accuracy``), else its first one.
    """
    exp = experiments.get(spec.experiment)
    found = records(todo)
    rows = []
    for overrides in configurations(spec):
        key = runs._jsonable(overrides)
        mine = [j for j in todo if runs._jsonable(dict(j.overrides)) == key]
        recs = {j.seed: found[j.name] for j in mine if found[j.name] is not None}
        metric = exp.success[0] if exp.success else next(iter(next(iter(recs.values()))["metrics"]), None) if recs else None
        values = {s: r["metrics"].get(metric) for s, r in recs.items()}
        vals = [v for v in values.values() if v is not None]
        judged = exp.success is not None and spec.profile == "paper"    # smoke runs are not held to the paper's bar
        ok = [s for s, r in recs.items() if not exp.failed(r)] if judged else []
        mean = sum(vals) / len(vals) if vals else None
        sd = (sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5 if len(vals) > 1 else None
        rows.append(dict(overrides=overrides, seeds=len(mine), finished=len(recs), succeeded=len(ok) if judged else None,
                         success_rate=len(ok) / len(recs) if recs and judged else None, metric=metric, mean=mean, sd=sd,
                         min=min(vals) if vals else None, max=max(vals) if vals else None,
                         per_seed=values, failed_seeds=sorted(set(recs) - set(ok)) if judged else [],
                         wall_time_min=sum(r["wall_time_s"] for r in recs.values()) / 60))
    return rows


def format_report(spec: Spec, rows: list[dict]) -> str:
    """The summary as text: one block per configuration."""
    exp = experiments.get(spec.experiment)
    rule = f"success: {exp.success[0]} >= {exp.success[1]}" if exp.success else "no success threshold"
    lines = [f"sweep {spec.name}: {spec.experiment}, profile {spec.profile}, seeds {spec.seeds} ({rule})"]
    for row in rows:
        cfg = ", ".join(f"{k}={v}" for k, v in row["overrides"].items()) or "the experiment's configuration"
        lines.append(f"- {cfg}: {row['finished']}/{row['seeds']} finished")
        if not row["finished"]:
            continue
        f = lambda v: "-" if v is None else f"{v:.4f}"   # noqa: E731
        rate = (f"{row['succeeded']}/{row['finished']} succeeded ({row['success_rate']:.0%})"
                if row["success_rate"] is not None else "success not judged (only paper-profile runs are)")
        lines.append(f"  {rate}; {row['metric']} mean {f(row['mean'])}, sd {f(row['sd'])}, "
                     f"min {f(row['min'])}, max {f(row['max'])}; {row['wall_time_min']:.1f} min of training")
        lines.append("  per seed: " + ", ".join(f"{s}: {f(v)}" for s, v in sorted(row["per_seed"].items())))
        if row["failed_seeds"]:
            lines.append(f"  failed seeds: {row['failed_seeds']}")
    return "\n".join(lines)
