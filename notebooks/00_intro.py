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
# # Attend, Infer, Repeat: a reproducible companion
#
# *Attend, Infer, Repeat* {cite}`eslami2016air`, reproduced with `airlib`, a small PyTorch library: every number
# is read from the records of models this repository's code trained, and every figure is regenerated from code.

# %% tags=["parameters"]
profile = "paper"
seed = 0

# %% tags=["remove-input"]
from IPython.display import HTML, display
from myst_nb import glue

from airlib import claims

found = claims.table(profile)
display(HTML(claims.summary_html(found)))
glue("claims_tally", claims.tally(found), display=False)

# %% [markdown]
# ## What reproduced, claim by claim
#
# One row per claim of the paper: its words, this book's number with the seeds behind it, what a recipe beyond
# the paper reaches on the same measure (shown beside the paper's method, never in its verdict), and a verdict
# computed from the number by a stated rule (`airlib/claims.py`). Each chapter opens with its own rows and says
# more. Of the paper's claims measured here: {glue:text}`claims_tally`.

# %% tags=["remove-input"]
display(HTML(claims.html(found)))

# %% [markdown]
# ## What AIR does
#
# A scene is made of a *variable* number of objects. AIR is a generative model
# that draws a number of objects $n$, and for each object a code $z^i_{\text{what}}$ for its appearance and
# a code $z^i_{\text{where}}$ for its position and scale; a decoder turns each $z^i_{\text{what}}$ into a
# patch and a spatial transformer {cite}`jaderberg2015spatial` places it on the canvas. Inference runs
# the other way, one object at a time: a recurrent network *attends* to a part of the image, *infers* what is
# there, and *repeats* until it decides that nothing is left to explain. The number of steps is itself
# inferred, through a presence variable $z^i_{\text{pres}}$ coded in unary (a run of ones, then a zero).
# Everything is trained end to end by maximising a variational lower bound on $\log p(\mathbf{x})$, with
# reparameterised gradients for the continuous codes and score-function gradients, with the
# variance reduction of NVIL {cite}`mnih2014nvil`, for the discrete ones.
#
# The figure below shows the idea on one image of the multi-MNIST data set of Sec. II: the image, then
# the windows an ideal inference network would attend to at steps 1, 2 and 3 (red, green, blue), then the
# decision to stop. It is drawn from the data set's ground truth, not from a trained model; the chapters show
# what the trained models do.

# %% tags=["hide-input"]
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

import airlib
from airlib.data import make_multi_mnist

data = make_multi_mnist(64, counts=(2,), split="test", seed=seed)
image, boxes = data.images[0], data.boxes[0]
colours = ["red", "limegreen", "dodgerblue"]
fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
titles = ["the image x", "step 1: attend, infer", "step 2: attend, infer", "step 3: nothing left, stop"]
for step, (ax, title) in enumerate(zip(axes, titles)):
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    for i, (top, left, bottom, right) in enumerate(boxes[:step]):
        ax.add_patch(Rectangle((left - 1.5, top - 1.5), right - left + 2, bottom - top + 2,
                               fill=False, lw=2.5, color=colours[i]))
    ax.set_title(title + ("\n$z_{pres}=0$" if step == 3 else f"\n$z_{{pres}}=1$" if step else ""))
    ax.axis("off")
fig.suptitle("AIR explains a scene one object at a time, and infers how many steps to take", y=1.0)
fig.tight_layout(rect=(0, 0, 1, 0.93))
plt.show()

# %% [markdown]
# The paper's Fig. 2, drawn from the library's configuration: the generative model, and one step of
# the inference network that reads the image, decides whether another object is present, where it
# is, and what it looks like.

# %% tags=["hide-input"]
from airlib.plotting import model_diagram

fig = model_diagram(airlib.config("air-multi-mnist", "paper")[0])
plt.show()

# %% [markdown]
# ## How to read, run and regenerate this book
#
# Each chapter is a notebook in `notebooks/` (a plain `.py` file in jupytext's percent format) that imports
# `airlib` and never redefines it, so what you read is what the library does. Chapters follow the paper:
#
# | chapter | paper | what it shows |
# | --- | --- | --- |
# | 1. The ELBO and its estimators | Sec. I | the variable-length bound, its gradient estimators, checked exactly on a toy model |
# | 2. Multi-MNIST | Sec. II | AIR and DAIR learning to count and locate digits without supervision |
# | Try AIR | Sec. II, Fig. 2 | AIR and DAIR running in your browser while you draw digits (ONNX, no server) |
# | 3. Strong generalization | Sec. II-A | AIR and DAIR on more (extrapolation) or other (interpolation) digit counts than in training; DRAW |
# | 4. Representational power | Sec. II-B | AIR's scene codes against a CNN, a CAE and DRAW on two downstream tasks (Fig. 7) |
# | 5. 3D objects | Sec. III-A | AIR inverting a MuJoCo renderer: one object's identity and pose, against a supervised network and direct optimisation |
# | 6. Table-top scenes | Sec. III-B | AIR counting, naming and locating up to three pieces of crockery, with a fixed and a moving camera, against supervised networks |
# | Table-top AIR | Sec. III-B | chapter 6's sleep-phase network counting, naming and placing crockery in your browser on held-out scenes (ONNX, no server) |
#
# **Running a chapter yourself.** After `make book` (or `make setup`), open a chapter in Jupyter
# (`.venv/bin/jupyter lab notebooks/`; jupytext opens the `.py` file as a notebook, and the
# `NN_*.ipynb` twins open anywhere) or in VS Code's interactive window, which runs the `# %%` cells of
# the `.py` file directly. Set `profile = "smoke"` in the parameters cell for a run of seconds. No
# chapter needs a GPU: the paper-profile chapters only load and evaluate trained models.
#
# To regenerate everything on a fresh machine, clone the repository and run the two commands of its README:
#
# ```bash
# make book   # set up the environment, fetch and verify MNIST, execute every chapter, build this site
# make test   # the unit tests and a fast run of every chapter with the `smoke` profile
# ```
#
# Every notebook has one `parameters` cell with a `profile`: `smoke` runs every code path in seconds (the
# tests use it), `paper` is the paper's scale (this book uses it). Chapters that need trained models *load*
# them from `artifacts/`; they never train a paper-scale model during the build. To retrain one, run the
# command recorded beside the artifact, e.g. `python -m airlib train air-multi-mnist --profile paper --seed 0`,
# then `python -m airlib promote runs/air-multi-mnist-paper-seed0` (training never writes to `artifacts/` itself).

# %% tags=["remove-input"]
import dataclasses  # noqa: E402

from airlib import reproduce  # noqa: E402


def hours(e: dict) -> float:
    """Training on two cores (longest run first) plus the studies, by the runs' recorded wall times."""
    return (e["training_minutes"] + e["study_minutes"]) / 60


every, quick = reproduce.select(), reproduce.select(quick=True)
others = dataclasses.replace(quick, runs=tuple(job for job in quick.runs if not job[0].startswith("tabletop-")))
every_cost, quick_cost, others_cost = (reproduce.estimate(s, jobs=2) for s in (every, quick, others))
cost = quick_cost["core_minutes_by_experiment"]
tabletop = sum(m for name, m in cost.items() if name.startswith("tabletop-"))
glue("every_runs", f"{len(every.runs)}", display=False)
glue("every_hours", f"{hours(every_cost):.0f}", display=False)
glue("quick_runs", f"{len(quick.runs)}", display=False)
glue("quick_hours", f"{hours(quick_cost):.1f}", display=False)
def share(part: float, whole: float) -> str:
    """A share of the core-hours; none to share where this build's artifacts hold no training record."""
    return f"{part / whole:.0%}" if whole else "an unknown share (no training records in this build)"


glue("quick_tabletop_share", share(tabletop, quick_cost["core_minutes"]), display=False)
glue("quick_tabletop_dair", share(cost.get("tabletop-dair", 0), quick_cost["core_minutes"]), display=False)
glue("quick_without_tabletop_hours", f"{hours(others_cost):.1f}", display=False)

# %% [markdown]
# **What retraining everything costs.** `python -m airlib reproduce --jobs 2` retrains all
# {glue:text}`every_runs` runs of this book and rebuilds it: about {glue:text}`every_hours` hours on two CPU
# cores, by the wall times their records state. `--quick` keeps the seeds the figures, the studies and the
# chapters' loaded models need ({glue:text}`quick_runs` runs, about {glue:text}`quick_hours` hours); the table-top
# networks of chapter 6 are {glue:text}`quick_tabletop_share` of its core-hours (the ten DAIR seeds its study reads
# {glue:text}`quick_tabletop_dair`), and without them it would take {glue:text}`quick_without_tabletop_hours` hours.
# `--chapter K` retrains only what chapter K reads, and `--plan` prints any of these estimates, run by run, before
# anything runs. No reproduction of the whole book has been timed end to end.
#
# Every trained model of the book, with its record (command, commit, data hash, hardware, wall time) and a
# download link, is listed in the appendix ({doc}`07_appendix`), with the time each chapter takes to build.

# %% [markdown]
# ## References
#
# ```{bibliography}
# ```
