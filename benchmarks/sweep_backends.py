"""Wall time of one 10-seed AIR sweep on each backend, and whether the two give the same records.

Run:   python benchmarks/sweep_backends.py [--steps 1000] [--collect]   (on an idle machine)
Writes benchmarks/sweep_backends.json.

It runs ``python -m airlib sweep sweeps/air-seeds.toml --set train.steps=STEPS`` with ``--backend local``
and then ``--backend ray`` (a local Ray cluster), two jobs at a time, into
``runs/sweeps/air-seeds-<steps/1000>k-<backend>``, and compares every record pair with
:func:`airlib.sweep.comparable` (which leaves out wall time and host) and the weights' SHA-256.
``--collect`` only reads sweeps already run there (their ``sweep.json``). The full recipe is 10,000
steps per seed; the default 1,000 keeps the measurement to minutes on two cores.

``--smoke`` runs one seed of the smoke profile for two steps on the local backend alone, in a temporary
folder, and compares its records with themselves (starting Ray takes longer than the whole smoke run); the
result is written nowhere (``--out`` to keep it).
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, parser, save

OUT = Path(__file__).with_name("sweep_backends.json")
SMOKE_SPEC = 'name = "smoke"\nexperiment = "air-multi-mnist"\nprofile = "smoke"\nseeds = [0]\n'


def main(argv=None) -> dict:
    ap = parser(__doc__, OUT)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--collect", action="store_true", help="only read the sweeps already run")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.smoke:
        work = Path(tempfile.mkdtemp(prefix="sweep-backends-smoke-"))
        try:
            (work / "smoke.toml").write_text(SMOKE_SPEC)
            return measure(args, work / "smoke.toml", 2, {"local": work / "local"})
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return measure(args, ROOT / "sweeps" / "air-seeds.toml", args.steps,
                   {b: ROOT / "runs" / "sweeps" / f"air-seeds-{args.steps // 1000}k-{b}" for b in ("local", "ray")})


def measure(args, spec_path: Path, steps: int, folders: dict[str, Path]) -> dict:
    """Runs (unless ``--collect``) the sweep on each backend into its folder, then compares the first with the last."""
    from airlib import sweep
    if not args.collect:
        for backend, folder in folders.items():
            subprocess.run([sys.executable, "-m", "airlib", "sweep", str(spec_path), "--set",
                            f"train.steps={steps}", "--backend", backend, "--jobs", "2", "--out", str(folder)],
                           cwd=ROOT, check=True)
    spec = sweep.load_spec(spec_path)
    spec.fixed["train.steps"] = steps
    first, last = list(folders)[0], list(folders)[-1]
    where = str(spec_path.relative_to(ROOT)) if spec_path.is_relative_to(ROOT) else "a temporary smoke sweep"
    result = dict(machine=f"{platform.machine()}, {os.cpu_count()} cores", sweep=where, seeds=spec.seeds,
                  steps_per_seed=steps, jobs_at_once=2, compared=f"{first} with {last}", backends={})
    records = {}
    for backend, folder in folders.items():
        last_run = json.loads((folder / "sweep.json").read_text())["runs"][-1]
        todo = sweep.expand(spec, folder)
        records[backend] = sweep.records(todo)
        summed = sum(r["wall_time_s"] for r in records[backend].values()) / 60
        result["backends"][backend] = dict(wall_time_min=last_run["wall_time_s"] / 60, trained=len(last_run["done"]),
                                           failed=len(last_run["failed"]), finished_at=last_run["finished_at"],
                                           summed_run_minutes=summed)
    same_weights = same_records = 0
    differing = set()
    for name, a in records[first].items():
        b = records[last][name]
        same_weights += a["weights_sha256"] == b["weights_sha256"]
        ca, cb = sweep.comparable(a), sweep.comparable(b)
        differing |= {k for k in ca if ca[k] != cb.get(k)}
        same_records += ca == cb
    result["same_weights"] = f"{same_weights} of {len(records[first])}"
    result["same_records"] = f"{same_records} of {len(records[first])}"
    result["fields_that_differ"] = sorted(differing)
    result["report"] = sweep.format_report(spec, sweep.summarise(spec, sweep.expand(spec, folders[first])))
    result = save(result, args, OUT)
    print(json.dumps({k: result[k] for k in ("backends", "same_weights", "same_records", "fields_that_differ")}, indent=1))
    return result


if __name__ == "__main__":
    main()
