"""The run layer: one record, checkpoint, artifact and provenance for every trained model.

It imports no experiment. A run lives in its folder under ``runs/`` and holds::

    checkpoint.pt       everything needed to resume (tensors and plain containers only, so it
                        loads with ``weights_only=True``); the previous one is kept as checkpoint.prev.pt
    metrics.jsonl       one JSON line per evaluation
    model.safetensors   at the end: the weights (fp16) and any figure tensors
    model.json          at the end: the record (``RECORD_KEYS``), with the SHA-256 of model.safetensors

Training writes only there. :func:`promote` is the one step that copies a finished run of a
non-smoke profile into ``artifacts/`` (atomically, and never over an existing artifact unless asked).
Loading (:func:`load_artifact`) checks the weights' SHA-256 against the record, and no file is ever
unpickled into code: weights are safetensors, checkpoints load with ``weights_only=True``.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs"
# The committed artifacts; `python -m airlib reproduce` points AIRLIB_ARTIFACTS at its own folder instead.
ARTIFACTS = Path(os.environ.get("AIRLIB_ARTIFACTS") or ROOT / "artifacts").expanduser()

# Every record has these keys, whatever the experiment.
RECORD_KEYS = ("experiment", "profile", "seed", "model_config", "train_config", "command", "commit", "dirty",
               "device", "torch", "determinism", "wall_time_s", "finished", "steps", "history", "metrics",
               "data_sha256", "weights_sha256")


class RunError(RuntimeError):
    """A run folder holds something it cannot resume from (another run's checkpoint, a broken file)."""


class ArtifactError(RuntimeError):
    """A trained artifact is missing, damaged, or does not match what is asked for."""


# ------------------------------------------------------------------ provenance

def git_state(root: Path = ROOT) -> tuple[str, bool]:
    """``(commit, dirty)`` of the code, or ``("unknown", True)`` outside a git checkout.

    A copy of the tree without ``.git`` (a remote machine) may state them in ``AIRLIB_COMMIT`` and ``AIRLIB_DIRTY``.
    """
    if os.environ.get("AIRLIB_COMMIT") and not (root / ".git").exists():
        return os.environ["AIRLIB_COMMIT"], os.environ.get("AIRLIB_DIRTY", "1") != "0"
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "airlib"], cwd=root,
                                capture_output=True, text=True, check=True).stdout.strip()
        return commit, bool(status)
    except (OSError, subprocess.CalledProcessError):
        return "unknown", True


def run_name(experiment: str, profile: str, seed: int, overrides: dict | None = None) -> str:
    """A run folder's name: ``NAME-PROFILE-seedS``, with ``-<hash>`` of the configuration overrides when there are any."""
    if not overrides:
        return f"{experiment}-{profile}-seed{seed}"
    digest = hashlib.sha256(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:8]
    return f"{experiment}-{profile}-seed{seed}-{digest}"


def host() -> str:
    """The machine's network name (records differ in it, and in wall time, when the same job runs elsewhere)."""
    return platform.node() or "unknown"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``cpu``, ``cuda`` or ``auto`` (a GPU when torch sees one) as a torch device, or a ValueError naming it."""
    if isinstance(device, torch.device):
        return device
    name = device or "cpu"
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.split(":")[0] not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}: expected cpu, cuda or auto")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch sees no GPU here (torch {torch.__version__}); "
                         "use the device cpu or auto instead")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """The hardware a run used, in words."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``): MKL picks its kernels by it, so two AVX512 machines of other makers
    round differently (a run retrained on another CPU model differs from its record)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def determinism() -> dict:
    """The settings that decide whether the same seed gives the same numbers."""
    return dict(threads=torch.get_num_threads(), deterministic_algorithms=torch.are_deterministic_algorithms_enabled(),
                cpu_capability=str(torch.backends.cpu.get_cpu_capability()), cpu_model=cpu_model(),
                python=sys.version.split()[0])


def provenance(device: torch.device, command: str) -> dict:
    """The record's provenance fields: command, commit, dirty, device, torch, determinism, host."""
    commit, dirty = git_state()
    return dict(command=command, commit=commit, dirty=dirty, device=device_name(device), torch=str(torch.__version__),
                determinism=determinism(), host=host())


def shown_command(record: dict) -> str:
    """A record's command as a reader can run it: without ``--run-dir``, the folder on the machine that trained it
    (the command then writes to the default ``runs/<name>-<profile>-seed<S>``)."""
    return re.sub(r"\s--run-dir(?:=|\s+)\S+", "", record["command"])


def data_hashes(data: dict) -> dict[str, str]:
    """A record's ``data_sha256``: the SHA-256 of every tensor a run trains or a study scores, by split."""
    from .data import tensor_sha256
    return {k: tensor_sha256(v) for k, v in sorted(data.items())}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------ atomic files

def _atomic(path: Path, write) -> None:
    """Calls ``write(tmp)`` on a unique temporary file beside ``path``, then renames it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)         # mkstemp's 0600 would make shared artifacts unreadable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj) -> None:
    """Writes JSON atomically."""
    _atomic(Path(path), lambda tmp: tmp.write_text(json.dumps(obj, indent=1)))


# ------------------------------------------------------------------ checkpoints

def save_checkpoint(path: Path, state: dict) -> None:
    """Writes a checkpoint atomically, keeping the previous one as ``*.prev.pt``."""
    path = Path(path)
    if path.exists():
        os.replace(path, path.with_suffix(".prev.pt"))
    _atomic(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path, identity: dict, device="cpu", extendable: bool = False,
                    schedules: tuple = ()) -> dict | None:
    """The checkpoint of the run ``identity`` names, or None if there is none yet.

    A damaged checkpoint falls back to the previous one (with a warning); a checkpoint of another
    experiment, profile, seed or configuration is refused, never overwritten. With ``extendable``
    (the experiment's schedule does not read ``steps``), a checkpoint whose configuration differs only
    in a smaller ``train_config.steps`` is accepted: the run continues to the new number of steps. Its
    ``schedules`` name ``train_config`` fields of ``((step, value), ...)`` that act from their step on: they
    may differ too, where only at steps the checkpoint has not trained yet (its ``step`` or later).

    Args:
        path: ``runs/.../checkpoint.pt``.
        identity: what the run is: experiment, profile, seed, model_config, train_config.
        extendable, schedules: the experiment's (:class:`airlib.experiments.Experiment`); see :func:`continues`.

    Raises:
        RunError: naming the file and what differs.
    """
    path = Path(path)
    for candidate in (path, path.with_suffix(".prev.pt")):
        if not candidate.exists():
            continue
        try:
            state = torch.load(candidate, map_location=device, weights_only=True)
        except Exception as e:   # truncated, not a zip, or a pickled payload weights_only refuses
            print(f"warning: {candidate} is unreadable ({type(e).__name__}: {str(e)[:200]}); trying the previous one",
                  file=sys.stderr)
            continue
        if not isinstance(state, dict) or "identity" not in state:
            raise RunError(f"{candidate} is not an airlib checkpoint; move it away or use another run folder")
        theirs = state["identity"]
        for key, value in _jsonable(identity).items():
            if extendable and key == "train_config" and isinstance(theirs.get(key), dict) \
                    and continues(_jsonable(theirs[key]), value, state.get("step"), schedules):
                continue
            if _jsonable(theirs.get(key)) != value:
                raise RunError(f"{candidate} belongs to another run ({key} = {theirs.get(key)!r}, this run has "
                               f"{value!r}); delete {candidate.parent} or choose another --run-dir")
        return state
    if path.exists():
        raise RunError(f"{path} and its previous copy are unreadable; delete {path.parent} to start afresh")
    return None


def continues(theirs: dict, ours: dict, step, schedules: tuple = ()) -> bool:
    """Whether a run of configuration ``theirs``, checkpointed at ``step``, is the start of a run of ``ours``.

    True when ``ours`` has as many ``steps`` or more and is otherwise the same, except in the ``schedules``
    fields (``((at, value), ...)``, acting from step ``at`` on), whose entries before ``step`` must agree:
    every step the checkpoint has trained was trained the same under both.
    """
    if not all(isinstance(n, int) for n in (theirs.get("steps"), ours.get("steps"), step)):
        return False
    def trained(entries):        # the schedule's entries that acted on a step the checkpoint has trained
        return [e for e in entries or [] if e[0] < step]
    return theirs["steps"] <= ours["steps"] \
        and all(trained(theirs.get(k)) == trained(ours.get(k)) for k in schedules) \
        and all(theirs.get(k) == ours.get(k) for k in set(theirs) | set(ours) if k not in {"steps", *schedules})


def read_metrics(path: Path, up_to: int | None = None) -> list[dict]:
    """The lines of ``metrics.jsonl`` (up to step ``up_to``), skipping a partial last line."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue   # a line cut short by a kill
        if up_to is None or rec.get("step", 0) <= up_to:
            out.append(rec)
    return out


def write_metrics(path: Path, history: list[dict]) -> None:
    """Rewrites ``metrics.jsonl`` from the history (atomically)."""
    _atomic(Path(path), lambda tmp: tmp.write_text("".join(json.dumps(h) + "\n" for h in history)))


# ------------------------------------------------------------------ artifacts

def artifact_stem(name: str, seed: int, directory: Path | None = None) -> Path:
    """``artifacts/<name>-seed<S>``: add ``.json`` (the record) or ``.safetensors`` (the weights)."""
    return Path(directory or ARTIFACTS) / f"{name}-seed{seed}"


def save_artifact(stem: Path, tensors: dict[str, torch.Tensor], record: dict) -> dict:
    """Writes ``stem.safetensors`` and ``stem.json`` (with the weights' SHA-256), atomically.

    Returns:
        The record as written.
    """
    from safetensors.torch import save_file
    stem = Path(stem)
    weights = stem.with_suffix(".safetensors")
    flat = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    _atomic(weights, lambda tmp: save_file(flat, str(tmp)))
    record = dict(record, weights_sha256=file_sha256(weights))
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise ValueError(f"a record needs the keys {missing}")
    write_json(stem.with_suffix(".json"), record)
    return record


def load_record(stem: Path) -> dict:
    """The JSON record of an artifact, checked for the keys every record has."""
    path = Path(stem).with_suffix(".json")
    if not path.exists():
        raise ArtifactError(f"no record {path}")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{path} is not valid JSON ({e})") from None
    missing = [k for k in RECORD_KEYS if k not in record]
    if missing:
        raise ArtifactError(f"{path} lacks the record keys {missing}: it predates the run layer; retrain with: "
                            f"{record.get('command', 'python -m airlib train ...')}")
    return record


def load_artifact(stem: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """``(record, tensors)`` of an artifact, after checking the weights against the record's SHA-256.

    Raises:
        ArtifactError: the record or weights are missing, or the weights are not the recorded ones.
    """
    from safetensors.torch import load_file
    record = load_record(stem)
    weights = Path(stem).with_suffix(".safetensors")
    if not weights.exists():
        raise ArtifactError(f"{weights} is not committed (only its record is); make it with: {record['command']}")
    digest = file_sha256(weights)
    if digest != record["weights_sha256"]:
        raise ArtifactError(f"{weights} does not match its record ({Path(stem).with_suffix('.json').name}): "
                            f"SHA-256 {digest[:12]}..., recorded {record['weights_sha256'][:12]}...; "
                            f"restore it (git checkout -- {weights.name}) or retrain with: {record['command']}")
    return record, load_file(str(weights))


def promote(run_dir: Path, directory: Path | None = None, weights: bool = True, replace: bool = False) -> Path:
    """Copies a finished run into ``artifacts/``: the one step that writes there.

    Args:
        run_dir: a run folder holding ``record.json`` and ``model.safetensors``.
        directory: the artifacts folder (default: the repository's ``artifacts/``).
        weights: also copy the weights (False: the record alone, for seeds the book only tabulates).
        replace: allow replacing an existing artifact of the same name and seed.

    Returns:
        The stem of the artifact written.

    Raises:
        ArtifactError: the run is unfinished or of the smoke profile, or the artifact exists.
    """
    run_dir = Path(run_dir)
    record, _ = load_artifact(run_dir / "model")
    if not record["finished"]:
        raise ArtifactError(f"{run_dir} is unfinished ({record['steps']} steps): finish it before promoting")
    if record["profile"] == "smoke":
        raise ArtifactError(f"{run_dir} is a smoke run: only runs of the paper profile become artifacts")
    stem = artifact_stem(record["experiment"], record["seed"], directory)
    if not replace and (stem.with_suffix(".json").exists() or stem.with_suffix(".safetensors").exists()):
        raise ArtifactError(f"{stem.name} exists; pass --replace to overwrite it with {run_dir}")
    if weights:
        _atomic(stem.with_suffix(".safetensors"), lambda tmp: shutil.copyfile(run_dir / "model.safetensors", tmp))
    else:
        stem.with_suffix(".safetensors").unlink(missing_ok=True)
    write_json(stem.with_suffix(".json"), dict(record, promoted=time.strftime("%Y-%m-%d %H:%M:%S")))
    return stem


def _jsonable(x):
    """Tuples as lists, as JSON stores them, so records compare equal to dataclasses."""
    return json.loads(json.dumps(x))
