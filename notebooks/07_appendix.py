# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["remove-cell"]
# Colab (or any Jupyter without airlib): install airlib from its repository, dependencies from PyPI.
import importlib.util, os, subprocess, sys  # noqa: E401
if importlib.util.find_spec("airlib") is None:
    repo = os.path.abspath("airlib-repo")
    if not os.path.isdir(repo):
        url = os.environ.get("AIRLIB_REPOSITORY", "https://github.com/airlib/airlib")
        subprocess.run(["git", "clone", "--depth", "1", url, repo], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", repo], check=True)
    sys.path.insert(0, repo)
    os.environ.setdefault("MUJOCO_GL", "egl")

# %% [markdown]
# # Appendix: the trained models and their records
#
# Every figure of this book comes from a model trained by this repository's own code. Each trained artifact carries a
# JSON record of how it was made: the command, the git commit, the device, the torch version, the wall time, and the
# SHA-256 of its weights and of the data it saw (`python -m airlib list` checks them against today's code), and the
# fingerprint of the training numerics it ran under (`airlib.numerics`: a short training per model family whose
# weights `make test` pins): "earlier" marks a record whose family's numerics have changed since, so a retrain will
# not give its numbers bit for bit; "not recorded", one trained before fingerprints were kept. The
# table below is read from those records when the book is built; seeds without a "weights" link have their record
# only (the chapters tabulate them). `python -m airlib reproduce` (or `make reproduce`) retrains all of them and
# builds the book from the result, as one sweep: on local processes by default, or as Ray tasks over a cluster with
# `--backend ray --address ADDR`, with the same records either way (the README's "Sweeps" section).

# %% tags=["parameters"]
profile = "paper"
seed = 0

# %% tags=["hide-input"]
from pathlib import Path

import pandas as pd
from IPython.display import HTML, display

from airlib import experiments, numerics, runs

rows = []
NUMERICS = {False: "today's", True: "earlier: a retrain will differ", None: "not recorded"}
for path in sorted(runs.ARTIFACTS.glob("*-seed*.json")):
    rec = runs.load_record(path.with_suffix(""))      # every record has the same keys (airlib.runs.RECORD_KEYS)
    weights = path.with_suffix(".safetensors")
    trained = NUMERICS[numerics.stale(rec)] if rec.get("experiment") in experiments.names() else "-"   # not a study
    rows.append({"artifact": path.stem, "wall time (min)": f"{rec['wall_time_s'] / 60:.1f}",
                 "device": rec["device"], "torch": rec["torch"], "commit": rec["commit"][:8], "numerics": trained,
                 "download": (f'<a href="../models/{weights.name}">weights</a>, ' if weights.exists() else "")
                             + f'<a href="../models/{path.name}">record</a>'})
if rows:
    display(HTML(pd.DataFrame(rows).to_html(index=False, escape=False)))
    total = sum(float(r["wall time (min)"]) for r in rows)
    print(f"{len(rows)} records; their runs took {total:.0f} minutes in all (one thread each), which is "
          f"roughly what `make reproduce` costs on a machine like the ones named above.")
else:
    print("No trained artifacts are recorded yet.")

# %% [markdown]
# ## How long each chapter takes to build
#
# From the last build of this book (papermill's execution of each chapter, on the machine that built it):

# %% tags=["hide-input"]
import nbformat

rows = []
for executed in sorted(Path(".").glob("[0-9][0-9]_*.ipynb")):
    meta = nbformat.read(executed, as_version=4).metadata.get("airlib", {})
    if meta and executed.stem != "07_appendix":            # this page runs last, after every other
        rows.append({"chapter": executed.stem, "profile": meta["profile"], "seconds": meta["seconds"]})
display(pd.DataFrame(rows).set_index("chapter") if rows else "no chapter has been executed yet")

# %% [markdown]
