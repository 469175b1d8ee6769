"""Wall time of one 10-seed AIR sweep on each backend, and whether the two give the same records.

Run:   python benchmarks/sweep_backends.py [--steps 1000] [--collect]   (on an idle machine)
Writes benchmarks/sweep_backends.json.

It runs ``python -m airlib sweep sweeps/air-seeds.toml --set train.steps=STEPS`` with ``--backend local``
and then ``--backend ray`` (a local Ray cluster), two jobs at a time, into
``runs/sweeps/air-seeds-<steps/1000>k-<backend>``, and compares every record pair with
:func:`airlib.sweep.comparable` (which leaves out wall time and host) and the weights' SHA-256.
``--collect`` only reads sweeps already run there (their ``sweep.json``). The full recipe is 10,000
steps per seed; the default 1,000 keeps the measurement to minutes on two cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_name("sweep_backends.json")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--collect", action="store_true", help="only read the sweeps already run")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from airlib import sweep
    folders = {b: ROOT / "runs" / "sweeps" / f"air-seeds-{args.steps // 1000}k-{b}" for b in ("local", "ray")}
    if not args.collect:
        for backend, folder in folders.items():
            subprocess.run([sys.executable, "-m", "airlib", "sweep", "sweeps/air-seeds.toml", "--set",
                            f"train.steps={args.steps}", "--backend", backend, "--jobs", "2", "--out", str(folder)],
                           cwd=ROOT, check=True)
    spec = sweep.load_spec(ROOT / "sweeps" / "air-seeds.toml")
    spec.fixed["train.steps"] = args.steps
    result = dict(command=f"python benchmarks/sweep_backends.py --steps {args.steps}",
                  machine=f"{platform.machine()}, {os.cpu_count()} cores", sweep="sweeps/air-seeds.toml",
                  seeds=spec.seeds, steps_per_seed=args.steps, jobs_at_once=2, backends={})
    records = {}
    for backend, folder in folders.items():
        last = json.loads((folder / "sweep.json").read_text())["runs"][-1]
        todo = sweep.expand(spec, folder)
        records[backend] = sweep.records(todo)
        result["backends"][backend] = dict(wall_time_min=last["wall_time_s"] / 60, trained=len(last["done"]),
                                           failed=len(last["failed"]), finished_at=last["finished_at"],
                                           summed_run_minutes=sum(r["wall_time_s"] for r in records[backend].values()) / 60)
    same_weights = same_records = 0
    differing = set()
    for name, a in records["local"].items():
        b = records["ray"][name]
        same_weights += a["weights_sha256"] == b["weights_sha256"]
        ca, cb = sweep.comparable(a), sweep.comparable(b)
        differing |= {k for k in ca if ca[k] != cb.get(k)}
        same_records += ca == cb
    result["same_weights"] = f"{same_weights} of {len(records['local'])}"
    result["same_records"] = f"{same_records} of {len(records['local'])}"
    result["fields_that_differ"] = sorted(differing)
    result["report"] = sweep.format_report(spec, sweep.summarise(spec, sweep.expand(spec, folders["local"])))
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("backends", "same_weights", "same_records", "fields_that_differ")}, indent=1))


if __name__ == "__main__":
    main()
