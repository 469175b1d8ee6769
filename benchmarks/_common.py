"""What every benchmark shares: a ``--smoke`` mode that never touches the committed result, and the provenance
(commit, date, command) that every real result records.

``--smoke`` runs a script at tiny sizes in seconds, to show that it still runs against today's library; it
prints its result and writes it only where ``--out`` says, never to the committed ``benchmarks/*.json``.
``tests/test_benchmarks_smoke.py`` runs every script so. A real run writes to ``--out`` or the committed file.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parser(doc: str, default_out: Path | None = None) -> argparse.ArgumentParser:
    """A script's argument parser with ``--smoke`` and ``--out`` (the script adds its own options)."""
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes, a few seconds: check that the script runs; the committed result is not written")
    where = f"(default {default_out.relative_to(ROOT)}; with --smoke, none)" if default_out else ""
    p.add_argument("--out", type=Path, default=None, help=f"where to write the result {where}".strip())
    return p


def provenance() -> dict:
    """The commit the code was measured at, whether ``airlib/`` differed from it, the date and the command."""
    from airlib.runs import git_state
    commit, dirty = git_state(ROOT)
    return dict(git_commit=commit, git_dirty=dirty, date=time.strftime("%Y-%m-%d %H:%M:%S %z"),
                command=" ".join(["python", *sys.argv]))


def destination(args, default_out: Path | None) -> Path | None:
    """Where the result goes: ``--out``, else the committed file, except under ``--smoke`` (nowhere)."""
    if args.out is not None:
        return Path(args.out)
    return None if args.smoke else default_out


def save(result: dict, args, default_out: Path | None) -> dict:
    """The result with its provenance first (and ``smoke``), written to :func:`destination` when there is one."""
    result = {**provenance(), "smoke": bool(args.smoke), **result}
    out = destination(args, default_out)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {out}", flush=True)
    return result


def median_seconds(step, repeats: int, warmup: int) -> float:
    """Median wall time of ``step()`` over ``repeats`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]
