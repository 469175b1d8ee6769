# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
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
# # 6. Table-top scenes: counting, identifying and locating crockery (Sec. III-B)
#
# Chapter 5 inverted a renderer for one object. Here a scene holds up to $N=3$ pieces of crockery, a
# cup, a pan and a plate, on a table, and the network must find how many there are, which they are
# and where they stand, from the image alone:
#
# > "The goal is to learn to achieve this task with as little supervision as possible, and indeed we
# > observe that with AIR it is possible to do so with no supervision other than a specification of
# > the renderer." (Sec. III-B)
#
# > "A naive supervised setup struggles greatly with object repetitions or when an arbitrary ordering
# > of the objects is imposed by the labels, however training is more straightforward when there are
# > no repetitions. AIR achieves competitive reconstruction and count accuracy despite the added
# > difficulty of object repetitions." (Sec. III-B)
#
# This chapter builds the scenes, trains AIR with a fixed and with a moving camera and the supervised
# networks the paper compares against, and measures the claims on held-out scenes. It imports
# `airlib.tabletop` (the scene model), `airlib.render.tabletop` (the renderer), `airlib.tabletop_air`
# (the network and its ELBO) and `airlib.experiments.tabletop` (training and scores).

# %% tags=["parameters"]
profile = "paper"
seed = 0

# %%
import inspect
import json
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display
from matplotlib.patches import Circle, Rectangle
from myst_nb import glue

import airlib
import airlib.runs
from airlib import experiments, tabletop, tabletop_air
from airlib.experiments import tabletop as T
from airlib.render.crockery import BODY_RADIUS
from airlib.render.likelihood import downsample, pyramid_log_likelihood
from airlib.render.tabletop import COLOURS, KINDS

torch.set_num_threads(1)
torch.manual_seed(seed)
SPEC = T.SPEC
cfg = experiments.config("tabletop-air", profile)[1]
renderer = T.renderer(cfg.render_size)
prior = tabletop.ScenePrior()
glue("alpha", f"{prior.alpha:g}", display=False)
glue("camera_range", f"{SPEC.camera_range:g}", display=False)
glue("overlap_nats", f"{prior.overlap_nats:,.0f}", display=False)
glue("steps", f"{cfg.steps:,}", display=False)
glue("batch", f"{cfg.batch}", display=False)
glue("wide_px", f"{cfg.levels[0][0]:g}", display=False)
glue("floor", f"{cfg.presence_floor:g}", display=False)
glue("floor_steps", f"{cfg.floor_steps:,}", display=False)
glue("what_warmup", f"{cfg.what_warmup:,}", display=False)
glue("wide_stride", f"{cfg.levels[0][1]}", display=False)
dair_cfg = experiments.config("tabletop-dair", profile)[1]      # AIR's recipe, then a lower rate
glue("dair_recipe", f"{dair_cfg.steps:,} steps" + "".join(f", from step {at:,} at {f:g} x the rate"
                                                          for at, f in dair_cfg.lr_drops), display=False)
cfg

# %% [markdown]
# ## The scenes (Eq. 8)
#
# Every scene is drawn from the model of Eq. (8): for each of three slots, presence
# $z^i_{\text{pres}}\sim\text{Bernoulli}(\alpha)$ with $\alpha=$ {glue:text}`alpha`, type
# $z^i_{\text{what}}\sim\text{Discrete}(\beta)$ (uniform over cup, pan and plate), and a position on the
# table and a rotation about its normal, uniform; an object that would stand inside an earlier one is
# drawn again. The count is then Binomial$(3, \alpha)$. There are two data sets: one where a type may
# repeat, and one where each type appears at most once. The moving camera orbits the table within
# $\pm${glue:text}`camera_range` degrees of its central position. The meshes are surfaces of revolution made
# in code (`airlib.render.crockery`) and given to MuJoCo inline; nine bodies, three of each type, are
# moved into place for each scene. The network sees the $128\times128$ render area-averaged to
# $32\times32$, as in the paper.

# %% tags=["hide-output"]
print(inspect.getsource(tabletop.sample_scenes))

# %%
rows = [("types may repeat", dict(repeats=True)), ("each type at most once", dict(repeats=False)),
        ("moving camera", dict(repeats=True, moving_camera=True))]
fig, axes = plt.subplots(4, 6, figsize=(12.5, 8.6))
for r, (title, kw) in enumerate(rows):
    s = tabletop.sample_scenes(6, np.random.default_rng([seed, r]), spec=SPEC, **kw)
    x = renderer.render_batch(*s)
    for i in range(6):
        axes[r, i].imshow(x[i].permute(1, 2, 0))
        names = ", ".join(KINDS[k] for k in s.kind[i][s.present[i]]) or "empty"
        axes[r, i].set_title(names + (f"\ncamera {s.camera[i]:+.0f} deg" if kw.get("moving_camera") else ""), fontsize=8)
    axes[r, 0].text(-8, 64, title, rotation=90, va="center", ha="right", fontsize=9)
    if r == 0:
        for i in range(6):
            axes[3, i].imshow(downsample(x[i:i + 1], 32)[0].permute(1, 2, 0))
        axes[3, 0].text(-2, 16, "32x32 input (row 1)", rotation=90, va="center", ha="right", fontsize=9)
for ax in axes.flat:
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The model and its ELBO
#
# AIR's network for this experiment is a plain recurrent network (no LSTM) run for three steps. Each
# step reads the image's features and the previous step's $z_{\text{pres}}$, $z_{\text{what}}$ and
# $z_{\text{where}}$, and outputs a Bernoulli presence, a Discrete identity and a Gaussian pose; with
# the moving camera a separate network $F(\mathbf{x})$ first infers the camera angle and gives it to
# every step. The likelihood is the wide level of chapter 5's blur pyramid ({glue:text}`wide_px`-pixel blur,
# compared on every {glue:text}`wide_stride`th pixel): in a first run that added chapter 5's narrow level after
# 1,000 steps, the count accuracy fell as soon as the narrow level counted (under a narrow blur an object
# drawn slightly off its place costs more than no object at all), and the paper itself notes that at this
# resolution and blur the rotation cannot be recovered, which is what the narrow level was for. Gradients
# reach the poses and the camera by finite differences through the renderer, and the discrete choices by
# the score function with NVIL's baselines.
#
# The likelihood's noise is $\sigma_x=$ {glue:text}`sigma_x`, half of chapter 5's. Under the wide blur a small
# object is worth little: the cell below measures, on held-out scenes of one object, how many nats the
# true scene gains over the empty table. At chapter 5's 0.1 a cup gains about as much as its prior and
# the spread of $q(z_{\text{where}})$ cost, and a network trained so counted no lone cup at all.

# %%
single = tabletop.sample_scenes(300, np.random.default_rng([seed, 9]), spec=SPEC)
single = single.take(single.present.sum(1) == 1)
x_single = renderer.render_batch(*single)
empty = renderer.render_batch(np.zeros_like(single.present), np.full_like(single.kind, -1), single.pose)
worth = {}
for sigma in (0.1, cfg.sigma_x):
    gain = (pyramid_log_likelihood(x_single, x_single, sigma, cfg.levels[:1])
            - pyramid_log_likelihood(x_single, empty, sigma, cfg.levels[:1])).numpy()
    kind_of = single.kind.max(1)
    worth[f"sigma_x = {sigma:g}"] = {KINDS[k]: gain[kind_of == k].mean() for k in range(len(KINDS))}
worth = pd.DataFrame(worth)
display(worth.style.format("{:.0f}").set_caption("nats an object at its place gains over the empty table (wide level)"))
glue("sigma_x", f"{cfg.sigma_x:g}", display=False)
glue("cup_worth_01", f"{worth.loc['cup', 'sigma_x = 0.1']:.0f}", display=False)
glue("cup_worth", f"{worth.loc['cup', f'sigma_x = {cfg.sigma_x:g}']:.0f}", display=False)

# %% [markdown]
# A cup is worth {glue:text}`cup_worth_01` nats at $\sigma_x = 0.1$ and {glue:text}`cup_worth` at
# {glue:text}`sigma_x`.
#
# One part of the model needed care. The data never put an object inside another, but the renderer
# draws two bodies at one place as if they were one: an inference that describes one object twice
# produces *the same image*, so the likelihood does not object, and the count prior charges only a
# nat or so for the extra object. Without saying so in the model, the counts of the first networks
# we trained drifted to three. The model's prior therefore says what the data say: an object's
# position has no density inside an earlier object. To keep gradients, the hard constraint is relaxed
# to a cost of {glue:text}`overlap_nats` nats per metre by which two bodies' discs overlap
# (`tabletop.overlap_log_prior`). The cell below measures the problem on held-out scenes: the
# log-likelihood of the true scene with one of its objects described a second time, at its own place.

# %%
held = tabletop.sample_scenes(200, np.random.default_rng([seed, 7]), spec=SPEC)
one = np.flatnonzero(held.present.sum(1) == 1)[:50]
s1 = held.take(one)
x1 = renderer.render_batch(*s1)
dup = tabletop.Scenes(s1.present.copy(), s1.kind.copy(), s1.pose.copy(), s1.camera)
slot = s1.present.argmax(1)
free = (slot + 1) % tabletop.N
rows_ = np.arange(len(one))
dup.present[rows_, free] = True
dup.kind[rows_, free] = s1.kind[rows_, slot]
dup.pose[rows_, free] = s1.pose[rows_, slot]
gap = (pyramid_log_likelihood(x1, x1, cfg.sigma_x, cfg.levels)
       - pyramid_log_likelihood(x1, renderer.render_batch(*dup), cfg.sigma_x, cfg.levels))
xy, k = torch.from_numpy(s1.pose[rows_, slot, :2]), torch.from_numpy(s1.kind[rows_, slot])   # (B, 2), (B,)
pen = -tabletop.overlap_log_prior(xy, k, xy[:, None], k[:, None], torch.ones(len(k), 1), prior.overlap_nats).numpy()
print(f"likelihood lost by describing an object twice: max {gap.abs().max():.3f} nats over {len(one)} scenes; "
      f"the overlap term charges {pen.min():.0f}-{pen.max():.0f} nats")
glue("dup_gap", f"{gap.abs().max():.3f}", display=False)
glue("dup_pen_min", f"{pen.min():.0f}", display=False)

# %% [markdown]
# Describing an object twice costs at most {glue:text}`dup_gap` nats of likelihood; the overlap
# term charges at least {glue:text}`dup_pen_min`.
#
# One part of training needed care too. AIR's later steps learn where a second or third object is only
# when q lets them describe one: a step that q has switched off gets no gradient for its position, so
# it never finds the second object, and stays off. In our first runs q's second step had switched itself
# off on two-object scenes within 1,000 steps, and every scene of two or three objects was read as one.
# Training therefore starts with a floor under q's presence probability: each step is tried with
# probability at least {glue:text}`floor` (and declined with probability at least as much), the floor falling
# linearly to zero at step {glue:text}`floor_steps`. This changes q's family early in training, not the
# model or the objective: the ELBO is an ELBO for any q, and the network's most likely count is the same
# with or without the floor.
#
# And as in chapter 5, $q(z_{\text{what}})$ is sampled but not trained for the first {glue:text}`what_warmup`
# steps. Before the positions are found, a misplaced small object costs less than a misplaced large one, and
# the score function learned to call plates and pans cups, then added a second object to cover the rest of
# the plate.

# %% tags=["hide-output"]
print(inspect.getsource(tabletop.overlap_log_prior))
print(inspect.getsource(tabletop_air.TabletopAIR.loss))

# %% [markdown]
# ## Rendering is the cost
#
# A training step renders each image's inferred scene once, and once more per pose coordinate of
# every present object (and for the camera) for the finite differences. The cell counts the renders
# of one training step; the renderer's speed with all nine meshes loaded is in
# `benchmarks/tabletop_render.json`.

# %%
bench = json.loads((airlib.runs.ROOT / "benchmarks" / "tabletop_render.json").read_text())
fps = bench["median_fps"]
calls = {"n": 0}
_render = renderer.render


def counting_render(*a, **k):
    calls["n"] += 1
    return _render(*a, **k)


probe_model = tabletop_air.TabletopAIR(moving_camera=True, spec=SPEC)
s = tabletop.sample_scenes(cfg.batch, np.random.default_rng([seed, 8]), moving_camera=True, spec=SPEC)
x = renderer.render_batch(*s)
renderer.render = counting_render
out, q = probe_model.loss(x, renderer, cfg.sigma_x, cfg.levels, cfg.eps, generator=torch.Generator().manual_seed(seed))
out.loss.backward()
renderer.render = _render
per_step = calls["n"]
print(f"one step of batch {cfg.batch} (moving camera, {q.present.sum().item():.0f} objects inferred): {per_step} renders; "
      f"raw MuJoCo {fps['raw_mujoco']:.0f} frames/s, airlib's render {fps['render']:.0f} "
      f"({fps['render'] / fps['raw_mujoco']:.0%}), render_batch {fps['render_batch']:.0f} "
      f"({fps['render_batch'] / fps['raw_mujoco']:.0%})")
glue("renders_per_step", f"{per_step:,}", display=False)
glue("fps_raw", f"{fps['raw_mujoco']:,.0f}", display=False)
glue("fps_render", f"{fps['render']:,.0f}", display=False)
glue("fps_share", f"{fps['render'] / fps['raw_mujoco']:.0%}", display=False)
glue("render_s", f"{per_step / fps['render']:.2f}", display=False)

# %% [markdown]
# One step renders {glue:text}`renders_per_step` frames; at {glue:text}`fps_render` frames per second
# ({glue:text}`fps_share` of raw MuJoCo's {glue:text}`fps_raw`) that is {glue:text}`render_s` s of rendering in every
# step, before the networks run.
#
# ## Training (or loading the committed models)
#
# The `paper` profile loads the models in `artifacts/`, each trained on this 2-core CPU by
# `python -m airlib train NAME --profile paper` ({glue:text}`steps` steps of {glue:text}`batch` fresh
# scenes, the fixed-camera DAIR {glue:text}`dair_recipe`; the JSON records hold the commands, commits and wall times); the `smoke` profile trains
# tiny ones here. Three AIR networks (types repeat, each type once, moving camera), two DAIR networks
# (types repeat, moving camera; below) and four supervised ones: the paper's naive network, whose labels come slot by slot in the data's arbitrary order, on
# both data sets, and the same network with its labels sorted by type (absent slots last), the
# ordering that makes supervision "straightforward when there are no repetitions".

# %%
NAMES = {"AIR": "tabletop-air", "AIR, each type once": "tabletop-air-norep", "AIR, moving camera": "tabletop-air-camera",
         "DAIR": "tabletop-dair", "DAIR, moving camera": "tabletop-dair-camera",
         "supervised": "tabletop-supervised", "supervised, each type once": "tabletop-supervised-norep",
         "supervised by type": "tabletop-supervised-bytype",
         "supervised by type, each type once": "tabletop-supervised-bytype-norep"}
with warnings.catch_warnings(record=True) as caught:     # a run below its target warns; say so plainly instead
    warnings.simplefilter("always")
    nets = {label: airlib.load_or_train(name, profile, seed) for label, name in NAMES.items()}
for w in caught:
    print("below target:", str(w.message).split(";")[0])
for label, net in nets.items():
    r = net.record
    print(f"{label}: {r['steps']} steps in {r['wall_time_s'] / 60:.1f} min on {r['device']}, commit {r['commit'][:8]}"
          + "".join(f"; continued from {e['from_steps']:,} steps by commit {e['commit'][:8]}"
                    + "".join(f", {k} {old} -> {new}" for k, (old, new) in e.get("changed", {}).items())
                    for e in r.get("extended", [])))

fig, axes = plt.subplots(1, 2, figsize=(12.5, 3.4))
for label, net in nets.items():
    h = net.record["history"]
    style = "--" if label.startswith("supervised") else "-"
    axes[0].plot([r["step"] for r in h], [r["count_accuracy"] for r in h], style, label=label)
    axes[1].plot([r["step"] for r in h], [r["position_error"] for r in h], style, label=label)
axes[0].set_ylabel(f"count accuracy ({cfg.check_scenes} held-out scenes)")
axes[1].set_ylabel("position error (table widths)")
for ax in axes:
    ax.set_xlabel("training step")
axes[1].legend(fontsize=7, loc="upper right")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Results on held-out scenes
#
# Each network is scored on the held-out scenes of its own data set (the AIR network with the moving
# camera on moving-camera scenes). Count accuracy is over all scenes; identity accuracy and position
# error (in table widths) over the objects of the scenes counted right, each inferred object matched
# to a true one by the permutation with the least total distance; reconstruction error is the mean
# squared difference of the observed and re-rendered $32\times32$ images.

# %%
results, guesses, truths = {}, {}, {}
for label, name in NAMES.items():
    exp = experiments.get(name)
    data = exp.data(profile)
    truth = T.held_out(data)
    images = renderer.render_batch(*truth)
    if label == "AIR":
        air_images = images                  # (n_test, 3, H, W) kept for the sections below
    guess = exp.infer(nets[label], images)
    results[label] = T.score(truth, guess, images, renderer.render_batch(*guess))
    results[label]["minutes of training"] = nets[label].record["wall_time_s"] / 60
    guesses[label], truths[label] = guess, truth
n_test = len(truth.present)
table = pd.DataFrame(results).T.rename(columns={
    "count_accuracy": "count", "identity_accuracy": "identity", "position_error": "position",
    "camera_error_deg": "camera (deg)", "reconstruction_error": "recon. MSE", "minutes of training": "minutes"})
display(table.style.format({"count": "{:.1%}", "identity": "{:.1%}", "position": "{:.3f}", "camera (deg)": "{:.1f}",
                            "recon. MSE": "{:.5f}", "minutes": "{:.0f}"}))
glue("n_test", f"{n_test:,}", display=False)
for label, key in (("AIR", "air"), ("AIR, each type once", "air_norep"), ("AIR, moving camera", "air_cam"),
                   ("DAIR", "dair"), ("DAIR, moving camera", "dair_cam"),
                   ("supervised", "sup"), ("supervised, each type once", "sup_norep"),
                   ("supervised by type", "sup_type"), ("supervised by type, each type once", "sup_type_norep")):
    r = results[label]
    glue(f"{key}_count", f"{r['count_accuracy']:.1%}", display=False)
    glue(f"{key}_id", f"{r['identity_accuracy']:.1%}", display=False)
    glue(f"{key}_pos", f"{r['position_error']:.3f}", display=False)
    glue(f"{key}_mse", f"{r['reconstruction_error']:.5f}", display=False)
    glue(f"{key}_min", f"{r['minutes of training']:.0f}", display=False)
glue("air_cam_deg", f"{results['AIR, moving camera']['camera_error_deg']:.1f}", display=False)
glue("dair_cam_deg", f"{results['DAIR, moving camera']['camera_error_deg']:.1f}", display=False)

# The targets, checked here rather than asserted in prose.
# Each for the paper's network (AIR) and for DAIR, its error-canvas variant.
sup = results["supervised"]
checks = {}
for net in ("AIR", "DAIR"):
    fixed, moving = results[net], results[f"{net}, moving camera"]
    checks |= {
        f"{net} count accuracy >= 95% (types repeat)": fixed["count_accuracy"] >= 0.95,
        f"{net} identity accuracy >= 90% (types repeat)": fixed["identity_accuracy"] >= 0.90,
        f"{net} count accuracy >= the naive supervised network's (types repeat)":
            fixed["count_accuracy"] >= sup["count_accuracy"],
        f"{net} count accuracy >= 90% (moving camera)": moving["count_accuracy"] >= 0.90,
    }
checks["every network trained within 2 hours"] = all(r["minutes of training"] <= 120 for r in results.values())
display(pd.Series({k: "met" if v else "MISSED" for k, v in checks.items()}, name="target").to_frame())
glue("targets_met", f"{sum(checks.values())} of {len(checks)}", display=False)
verdict = ("AIR and DAIR meet the paper's picture here." if all(checks.values()) else
           "Here the networks fall short of the paper: " + "; ".join(k for k, v in checks.items() if not v) + " (missed).")
glue("verdict", verdict, display=False)

# %% [markdown]
# With types that may repeat, AIR counts {glue:text}`air_count` of the {glue:text}`n_test` held-out
# scenes right and names {glue:text}`air_id` of the objects in them, against
# {glue:text}`sup_count` and {glue:text}`sup_id` for the naive supervised network and
# {glue:text}`sup_type_count` and {glue:text}`sup_type_id` for the supervised network with labels
# sorted by type. With the moving camera AIR counts {glue:text}`air_cam_count` right and is off
# by {glue:text}`air_cam_deg` degrees in camera angle on average.
#
# DAIR, the variant of Sec. 3.1 whose every step reads the error canvas
# $\Delta\mathbf{x}^i = \mathbf{x}^i - \mathbf{x}$ of the scene rendered from the objects described so far
# instead of the image, trained with AIR's recipe for {glue:text}`dair_recipe`, counts {glue:text}`dair_count` right and names
# {glue:text}`dair_id` of the objects (moving camera, trained without the lower rate, which lowered its count:
# {glue:text}`dair_cam_count`, camera off by {glue:text}`dair_cam_deg` degrees). The plain network's later steps barely learn: its second step's place is
# not where the remaining object is, and its third step is almost never used (the confusion table below; the DAIR
# comment below `CONFIGS` in `airlib/experiments/tabletop.py` has the measurements). With the error canvas
# every step faces the first step's task, finding an object in what is left unexplained. Of the targets above,
# {glue:text}`targets_met` are met.
#
# {glue:text}`verdict`
#
# ```{admonition} What we tried, and what is left
# :class: dropdown
# Each change below was made after a run that showed its cause, and each is now part of the recipe
# (the docstring of `airlib.experiments.tabletop.Config` has the numbers): the overlap term (counts drifted
# to three), the wide likelihood alone (chapter 5's narrow level, added after 1,000 steps, collapsed the
# counts), the presence floor (later steps switched themselves off), $\sigma_x = 0.05$ (lone cups went
# uncounted) and the what warm-up (plates and pans were named cups). Each was judged on one seed over at
# most a few thousand steps, not over ten seeds, and none brought the count near the paper's. DAIR and its
# lower rate at the end were chosen the same way, on one pilot seed (the next section reports the
# recipe over seeds). Tried and dropped (the DAIR
# comment below `CONFIGS` has the numbers): holding the presence floor to the end of training, and, with
# DAIR, a narrower likelihood level (8 px) whether ramped in, alone, or for the poses' gradient only: each
# sharper likelihood made the networks undercount. Longer
# training: the AIR networks were first trained for 6,000 steps and then continued to {glue:text}`steps`
# (`airlib.train` continues a finished run of an experiment whose schedule does not read the number of
# steps, bit for bit a run started with the larger number; the records list it under `extended`); the
# curves above show what the extra steps did. DAIR's seed-0 network (fixed camera) was trained for {glue:text}`steps` steps with
# AIR's recipe and continued the same way with the lower rate (a schedule that changes only at steps the
# checkpoint has not trained also continues bit for bit). Not in the recipe: an intermediate blur between the wide and
# the narrow level, a larger inference network; several samples per image for the score function (with a
# leave-one-out baseline) was tried once, on one seed, without a gain clear enough to retrain every network.
# ```
#
# ## DAIR over seeds
#
# The tables above are seed 0. DAIR's recipe trained with other seeds (no per-seed tuning), each scored
# by its own record on the {glue:text}`n_test` held-out scenes:

# %%
from airlib.pretrained import seed_records

dair_seeds = seed_records("tabletop-dair", profile, nets["DAIR"].record)
def check_at(record, step):
    """The count on the first ``check_scenes`` held-out scenes that training logged at ``step`` (NaN where none was)."""
    return next((h["count_accuracy"] for h in record["history"] if h["step"] == step), float("nan"))

drop_step = dair_cfg.lr_drops[0][0] if dair_cfg.lr_drops else None
dair_seed_rows = pd.DataFrame({s: {"count": r["metrics"]["count_accuracy"], "identity": r["metrics"]["identity_accuracy"],
                                   "position": r["metrics"]["position_error"], "minutes": r["wall_time_s"] / 60,
                                   **({"check before the drop": check_at(r, drop_step),
                                       "check at the end": check_at(r, r["steps"])} if drop_step else {})}
                               for s, r in sorted(dair_seeds.items())}).T
dair_seed_rows.index.name = "seed"
display(dair_seed_rows.style.format({"count": "{:.1%}", "identity": "{:.1%}", "position": "{:.3f}", "minutes": "{:.0f}",
                                     "check before the drop": "{:.0%}", "check at the end": "{:.0%}"}))
wanted = range(10)
pending = [s for s in wanted if s not in dair_seeds]
glue("dair_seed_n", f"{len(dair_seed_rows)}", display=False)
def spread(column):
    """'a to b' over the seeds (one value when there is one seed)."""
    lo, hi = dair_seed_rows[column].min(), dair_seed_rows[column].max()
    return f"{lo:.1%}" if lo == hi else f"{lo:.1%} to {hi:.1%}"
glue("dair_seed_count_range", spread("count"), display=False)
glue("dair_seed_count_mean", f"{dair_seed_rows['count'].mean():.1%}", display=False)
glue("dair_seed_id_range", spread("identity"), display=False)
n_check = dair_cfg.check_scenes
glue("n_check", f"{n_check}", display=False)
if drop_step:  # the lower rate's effect, seed by seed, on the checks logged in training (smoke: no drop)
    gain = dair_seed_rows["check at the end"] - dair_seed_rows["check before the drop"]
    p_end = dair_seed_rows["check at the end"].mean()  # a check's binomial standard error, at the seeds' mean count
    glue("dair_check_se", f"{np.sqrt(p_end * (1 - p_end) / n_check) * 100:.0f}", display=False)
    glue("dair_drop_gain", f"{gain.mean() * 100:+.1f} points (from {gain.min() * 100:+.0f} to {gain.max() * 100:+.0f}; "
         f"higher at the end on {(gain > 0).sum()} of {gain.count()} seeds"
         + (f"; without seed 0, the pilot seed: {gain.drop(0).mean() * 100:+.1f} points)"
            if 0 in gain.index and gain.count() > 1 else ")"), display=False)
else:
    glue("dair_drop_gain", "not measured (this profile has no lower rate)", display=False)
    glue("dair_check_se", "(not measured)", display=False)
glue("dair_seeds_pending",
     "All ten seeds, 0 to 9, are trained." if not pending and profile == "paper" else
     f"{'Seed' if len(pending) == 1 else 'Seeds'} {', '.join(map(str, pending))} of 0 to 9 "
     f"{'is' if len(pending) == 1 else 'are'} not trained yet (each about "
     f"{dair_seed_rows['minutes'].median():.0f} minutes here, two at a time on the two cores): the recipe is not yet "
     "judged over ten seeds." if profile == "paper" else "The smoke profile trains one seed.", display=False)

# %% [markdown]
# Over {glue:text}`dair_seed_n` seeds DAIR counts {glue:text}`dair_seed_count_range` of the held-out scenes
# right (mean {glue:text}`dair_seed_count_mean`) and names {glue:text}`dair_seed_id_range` of the objects.
# Seed 0, the one the tables above show, is also the seed on which DAIR and its lower rate were chosen, so
# the other seeds are the fairer measure. {glue:text}`dair_seeds_pending`
#
# The last two columns are the counts that training logged on the first {glue:text}`n_check` held-out scenes
# when the lower rate began and when training ended. Over the seeds the lower rate changed them by
# {glue:text}`dair_drop_gain`. A check on {glue:text}`n_check` scenes has a standard error of about
# {glue:text}`dair_check_se` points, so the mean over seeds says more than any one seed's change.
#
# ## Is it the model or the inference?
#
# A count can be wrong for two reasons: the model (the renderer, the blurred likelihood and the prior of
# Eq. 8) may prefer the wrong scene, or it prefers the true one and the inference network does not find
# it. We tell them apart on held-out scenes with repetitions by comparing the joint
# $\log p(\mathbf{x}, \mathbf{z}) = \log p(\mathbf{x}\mid\mathbf{z}) + \log p(\mathbf{z})$ of the
# true scene with that of AIR's inferred one, under the likelihood AIR is trained with
# (`airlib.tabletop.log_prior` is the prior part of its ELBO).

# %%
n_joint = min(300, n_test)
joint_images = air_images[:n_joint]                     # the truth rendered (AIR and DAIR share the data set)


def log_joint(scenes, rendered):
    return pyramid_log_likelihood(joint_images, rendered, cfg.sigma_x, cfg.levels).numpy() + tabletop.log_prior(scenes)


for net, key in (("AIR", "joint"), ("DAIR", "dair_joint")):
    joint_truth, joint_guess = truths[net].take(slice(n_joint)), guesses[net].take(slice(n_joint))
    gap = (log_joint(joint_truth, joint_images)              # (n_joint,) nats in favour of the truth
           - log_joint(joint_guess, renderer.render_batch(*joint_guess)))
    wrong = joint_truth.count != joint_guess.count
    prefers_truth = (gap[wrong] > 0).mean() if wrong.any() else float("nan")
    median_gap = np.median(gap[wrong]) if wrong.any() else float("nan")
    display(pd.crosstab(pd.Series(truths[net].count, name="true count"),
                        pd.Series(guesses[net].count, name=f"{net}'s count")))
    print(f"{net}: {wrong.sum()} of {n_joint} scenes counted wrong; the truth has the higher joint in "
          f"{prefers_truth:.0%} of them, by a median of {median_gap:.0f} nats")
    glue(f"{key}_wrong", f"{wrong.sum()}", display=False)
    glue(f"{key}_prefers_truth", f"{prefers_truth:.0%}", display=False)
    glue(f"{key}_gap", f"{median_gap:.0f}", display=False)
    glue(f"{key}_under", f"{(truths[net].count > guesses[net].count).mean():.0%}", display=False)
    glue(f"{key}_over", f"{(truths[net].count < guesses[net].count).mean():.0%}", display=False)
    glue(f"{key}_verdict", f"The model is not what fails {net}: under it, the true description is worth more than "
         f"{net}'s in nearly every miscounted scene, so the objective would reward the right count; the inference "
         "network does not find it." if prefers_truth >= 0.9 else
         f"The model itself often prefers {net}'s description to the true one, so better inference alone would not "
         "fix its count.", display=False)
glue("joint_n", f"{n_joint}", display=False)

# %% [markdown]
# Of the first {glue:text}`joint_n` held-out scenes, AIR counts {glue:text}`joint_wrong` wrong, and in
# {glue:text}`joint_prefers_truth` of those the true scene has the higher joint probability, by a median
# of {glue:text}`joint_gap` nats. {glue:text}`joint_verdict` The first table (all held-out scenes) shows the
# kind of error: {glue:text}`joint_under` of the scenes are under-counted, {glue:text}`joint_over` over-counted.
# DAIR counts {glue:text}`dair_joint_wrong` of the {glue:text}`joint_n` wrong, the truth preferred in
# {glue:text}`dair_joint_prefers_truth` of them by a median of {glue:text}`dair_joint_gap` nats
# ({glue:text}`dair_joint_under` of all held-out scenes under-counted, {glue:text}`dair_joint_over` over-counted;
# the second table). {glue:text}`dair_joint_verdict`
#
# Which objects are missed? On the held-out scenes that hold a single object, the share each network counts
# right, by the object's type:

# %%
lone, weakest = {}, []
for net in ("AIR", "DAIR", "AIR, moving camera", "DAIR, moving camera"):
    t, g = truths[net], guesses[net]
    one = t.count == 1
    kind = t.kind[one][t.present[one]]                   # (n_lone,) the lone object's type
    said = g.count[one]                                  # (n_lone,) the network's count
    lone[net] = {name: (said[kind == k] == 1).mean() for k, name in enumerate(KINDS)}
    k = int(np.argmin([lone[net][name] for name in KINDS]))
    missed = said[(kind == k) & (said != 1)]
    whose = f"the moving-camera {net.split(',')[0]}'s" if "moving" in net else f"{net}'s"
    weakest.append(f"{whose} the {KINDS[k]} ({lone[net][KINDS[k]]:.0%} right; of the rest "
                   f"{(missed == 0).mean():.0%} left out, {(missed > 1).mean():.0%} counted as more)")
lone = pd.DataFrame(lone).T
lone.columns = [f"lone {name}" for name in KINDS]
display(lone.style.format("{:.0%}"))
glue("lone_weakest", "; ".join(weakest), display=False)

# %% [markdown]
# The weakest type differs by network: {glue:text}`lone_weakest`. Under the wide blur of the likelihood a
# small cup is worth little more than its prior cost, and a misplaced one costs little (the comment below
# `CONFIGS` in `airlib/experiments/tabletop.py` measures both), so leaving it out is cheap.
#
# ## Fig. 9, left: the scene from above
#
# Ground truth (filled discs, the body's footprint in the type's colour) and the inference (red
# outlines, the step number inside) of AIR and DAIR (one row each, the same scenes) for held-out scenes,
# seen from above; the arrows are the true (black) and inferred (red) camera directions of the
# moving-camera networks.


# %%
def top_view(ax, truth, guess, b, camera=False):
    """Draws scene b of truth and guess on the table seen from above."""
    t = SPEC.table_half_width
    ax.add_patch(Rectangle((-t, -t), 2 * t, 2 * t, color="0.15"))
    for i in np.flatnonzero(truth.present[b]):
        k = KINDS[truth.kind[b, i]]
        ax.add_patch(Circle(truth.pose[b, i, :2], BODY_RADIUS[k], color=COLOURS[k], alpha=0.9))
    for step, i in enumerate(np.flatnonzero(guess.present[b])):
        k = KINDS[guess.kind[b, i]]
        ax.add_patch(Circle(guess.pose[b, i, :2], BODY_RADIUS[k], fill=False, ec="red", lw=2))
        ax.text(*guess.pose[b, i, :2], str(step + 1), color="red", ha="center", va="center", fontsize=9)
    if camera:
        for c, colour in ((truth.camera[b], "black"), (guess.camera[b], "red")):
            a = np.radians(SPEC.azimuth + c)         # MuJoCo's azimuth: the camera looks along (cos a, sin a)
            ax.annotate("", xy=(0.25 * np.cos(a), 0.25 * np.sin(a)), xytext=(-0.7 * np.cos(a), -0.7 * np.sin(a)),
                        arrowprops=dict(arrowstyle="->", color=colour, lw=2))
    ax.set_xlim(-0.75, 0.75)
    ax.set_ylim(-0.75, 0.75)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


examples = [b for b in range(n_test) if truths["AIR"].present[b].sum() >= 2][:4]
cam_examples = [b for b in range(n_test) if truths["AIR, moving camera"].present[b].sum() >= 2][:4]
rows = (("AIR", examples, False), ("DAIR", examples, False), ("AIR, moving camera", cam_examples, True),
        ("DAIR, moving camera", cam_examples, True))
fig, axes = plt.subplots(len(rows), 8, figsize=(12.5, 1.8 * len(rows)))
for j, (label, picks, cam) in enumerate(rows):
    tr = truths[label]
    images = renderer.render_batch(*tr.take(picks))
    for n, b in enumerate(picks):
        axes[j, 2 * n].imshow(images[n].permute(1, 2, 0))
        axes[j, 2 * n].axis("off")
        top_view(axes[j, 2 * n + 1], tr, guesses[label], b, camera=cam)
    axes[j, 0].set_title(label, fontsize=9, loc="left")
for ax in axes.flat:
    if not ax.has_data() and not ax.patches:
        ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Fig. 9, middle: AIR against the supervised networks

# %%
groups = [("types repeat", "AIR", "supervised", "supervised by type"),
          ("each type once", "AIR, each type once", "supervised, each type once", "supervised by type, each type once")]
fig, axes = plt.subplots(1, 2, figsize=(12.5, 3.2))
width = 0.27
for ax, key, title in ((axes[0], "reconstruction_error", "reconstruction error (MSE, 32x32)"),
                       (axes[1], "count_accuracy", "count accuracy")):
    for n, (who, colour) in enumerate((("AIR", "C3"), ("naive supervised", "C0"), ("supervised by type", "C2"))):
        vals = [results[g[1 + n]][key] for g in groups]
        ax.bar(np.arange(2) + (n - 1) * width, vals, width, color=colour, label=who)
    ax.set_xticks(np.arange(2), [g[0] for g in groups])
    ax.set_title(title, fontsize=10)
axes[1].set_ylim(0, 1)
axes[1].legend(fontsize=8, loc="lower right")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Fig. 9, right: where each step looks
#
# Where AIR's and DAIR's objects are inferred on the table over the held-out scenes with repeated types, by
# the step that describes them (first row of each network) and by their inferred type (second row). Objects
# are exchangeable in Eq. (8), so each network chooses its own order of description.

# %%
p = SPEC.placement_half_width
bins = np.linspace(-p - 0.05, p + 0.05, 13)
nets_shown = ("AIR", "DAIR")
fig, axes = plt.subplots(2 * len(nets_shown), 3, figsize=(9.5, 6.2 * len(nets_shown)))
step_kinds = {}
for r, net in enumerate(nets_shown):
    g = guesses[net]
    for i in range(tabletop.N):
        on = g.present[:, i]
        axes[2 * r, i].hist2d(g.pose[on, i, 0], g.pose[on, i, 1], bins=[bins, bins], cmap="magma")
        axes[2 * r, i].set_title(f"{net}, step {i + 1}: {on.sum()} objects", fontsize=9)
    for k, name in enumerate(KINDS):
        on = g.present & (g.kind == k)
        axes[2 * r + 1, k].hist2d(g.pose[..., 0][on], g.pose[..., 1][on], bins=[bins, bins], cmap="magma")
        axes[2 * r + 1, k].set_title(f"{net}, inferred {name}s: {on.sum()}", fontsize=9)
    step_kinds[net] = pd.crosstab(np.repeat(np.arange(1, tabletop.N + 1)[None], n_test, 0)[g.present],
                                  np.array(KINDS)[g.kind[g.present]], rownames=["step"], colnames=["inferred type"])
for ax in axes.flat:
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
plt.tight_layout()
plt.show()
display(pd.concat(step_kinds, names=["network"]))

# %% [markdown]
# ## Fig. 10: the moving camera
#
# Held-out scenes from a random camera (top), the re-rendered inferences of the AIR and DAIR networks with
# $F(\mathbf{x})$ (below), and the distribution of their camera angle errors.

# %%
tr = truths["AIR, moving camera"]
picks = list(range(min(8, n_test)))
cam_nets = ("AIR, moving camera", "DAIR, moving camera")
fig = plt.figure(figsize=(12.5, 1.6 * (1 + len(cam_nets))))
grid = fig.add_gridspec(1 + len(cam_nets), 10)
rows = [("data", tr)] + [(label.split(",")[0], guesses[label]) for label in cam_nets]
for r, (who, scenes) in enumerate(rows):
    images = renderer.render_batch(*scenes.take(picks))
    for n in range(len(picks)):
        a = fig.add_subplot(grid[r, n])
        a.imshow(images[n].permute(1, 2, 0))
        a.set_title(f"{who}: {scenes.present[n].sum()} obj, {scenes.camera[n]:+.0f} deg", fontsize=7)
        a.axis("off")
a = fig.add_subplot(grid[:, 8:])
errors = {label.split(",")[0]: guesses[label].camera - tr.camera for label in cam_nets}
edges = np.histogram_bin_edges(np.concatenate(list(errors.values())), bins=40)
for who, err in errors.items():
    a.hist(err, bins=edges, alpha=0.6, label=who)
a.set_xlabel("inferred - true camera angle (deg)")
a.legend(fontsize=8)
plt.tight_layout()
plt.show()
far = 30                                                  # degrees: a miss beyond any near-miss
for who, err in errors.items():
    glue(f"{who.lower()}_cam_far", f"{(np.abs(err) > far).mean():.1%}", display=False)
    glue(f"{who.lower()}_cam_median", f"{np.median(np.abs(err)):.1f}", display=False)
glue("cam_far", f"{far}", display=False)

# %% [markdown]
# AIR's mean camera error comes mostly from {glue:text}`air_cam_far` of the scenes whose angle it misses by
# more than {glue:text}`cam_far` degrees (median error {glue:text}`air_cam_median` degrees); DAIR misses
# {glue:text}`dair_cam_far` by that much (median {glue:text}`dair_cam_median` degrees).

# %% [markdown]
# ## Training with perturbations, and transfer to real photographs
#
# The paper shows AIR's inference on photographs of a real table with plates, after training "with random
# colour and size perturbations to rendered objects". `tabletop-air` has a twin, `tabletop-air-perturbed`,
# trained by the same recipe on the same scenes rendered with such perturbations (`T.perturbed_images`:
# each object's size drawn from {glue:text}`perturbed_scales` of the model's mesh, each type's colour moved
# by up to {glue:text}`colour_jitter` per channel; the model's own renderer stays unperturbed). Below, what
# the perturbations look like.

# %%
shown = truths["AIR"].take(slice(6))
fig, axes = plt.subplots(2, 6, figsize=(12.5, 4.4))
for row, images in enumerate((renderer.render_batch(*shown),
                              T.perturbed_images(shown, np.random.default_rng([seed, 11]), cfg.render_size))):
    for i in range(6):
        axes[row, i].imshow(images[i].permute(1, 2, 0))
        axes[row, i].axis("off")
    axes[row, 0].set_title(("plain renders", "with colour and size perturbations")[row], fontsize=9, loc="left")
plt.tight_layout()
plt.show()
glue("perturbed_scales", ", ".join(f"{c:g}" for c in T.PERTURBED_SCALES), display=False)
glue("colour_jitter", f"{T.COLOUR_JITTER:g}", display=False)

# %% [markdown]
# No photograph of crockery on a table that matches the scenes' viewpoint ships in a package installable on
# the machines that build this book (the nearest, scikit-image's `coffee` image, is a close-up of one cup on
# a saucer, nothing like the training scenes), so transfer to photographs is **not reproduced**. What can be
# measured is the robustness that the perturbations are meant to buy: both networks, the one trained on plain
# renders and the one trained on perturbed ones, score the same held-out scenes rendered plainly and rendered
# with fresh perturbations.

# %%
with warnings.catch_warnings(record=True):
    warnings.simplefilter("always")
    perturbed_net = airlib.load_or_train("tabletop-air-perturbed", profile, seed)
r = perturbed_net.record
print(f"tabletop-air-perturbed: {r['steps']} steps in {r['wall_time_s'] / 60:.1f} min on {r['device']}")
shaken_images = T.perturbed_images(truths["AIR"], np.random.default_rng([seed, 12]), cfg.render_size)
robust = {}
for label, net in (("AIR, plain training", nets["AIR"]), ("AIR, perturbed training", perturbed_net)):
    for data_label, images in (("plain scenes", air_images), ("perturbed scenes", shaken_images)):
        guess = T.air_infer(net, images)
        sc = T.score(truths["AIR"], guess, images, renderer.render_batch(*guess))
        robust[label, data_label] = {"count": sc["count_accuracy"], "identity": sc["identity_accuracy"],
                                     "position": sc["position_error"]}
robust = pd.DataFrame(robust).T
display(robust.style.format({"count": "{:.1%}", "identity": "{:.1%}", "position": "{:.3f}"}))
for (label, data_label), key in ((("AIR, plain training", "perturbed scenes"), "plain_on_shaken"),
                                 (("AIR, perturbed training", "perturbed scenes"), "shaken_on_shaken"),
                                 (("AIR, perturbed training", "plain scenes"), "shaken_on_plain")):
    glue(f"{key}_count", f"{robust.loc[(label, data_label), 'count']:.1%}", display=False)
glue("perturbed_minutes", f"{r['wall_time_s'] / 60:.0f}", display=False)

# %% [markdown]
# On perturbed renders of the held-out scenes, the network trained on plain renders counts
# {glue:text}`plain_on_shaken_count` right and the one trained with perturbations
# {glue:text}`shaken_on_shaken_count` (on plain renders: {glue:text}`shaken_on_plain_count`; it trained
# in {glue:text}`perturbed_minutes` minutes). This is robustness to the perturbations the second network saw,
# not transfer to photographs, which stays unmeasured here.

# %% [markdown]
# ## Recap
#
# * Scenes of up to three pieces of crockery are drawn from Eq. (8) and rendered by MuJoCo; the model adds
#   what the data imply, that objects do not stand inside each other.
# * AIR, trained on unlabelled images through the renderer, counts {glue:text}`air_count` of held-out scenes
#   with repeated types right ({glue:text}`air_norep_count` with each type once, {glue:text}`air_cam_count`
#   with the moving camera, whose angle it misses by {glue:text}`air_cam_deg` degrees on average).
# * DAIR, whose steps read the error canvas of what they have described, counts {glue:text}`dair_count` right
#   with AIR's recipe and a lower rate at its end ({glue:text}`dair_cam_count` with the moving camera, without
#   it), and {glue:text}`dair_seed_count_range` over the {glue:text}`dair_seed_n` seeds trained (the section
#   "DAIR over seeds").
# * The naive supervised network, its labels in the data's arbitrary order, counts {glue:text}`sup_count`
#   right; sorting its labels by type, which is possible only because the types are known, gives
#   {glue:text}`sup_type_count`.
# * Where AIR miscounts, the true scene has the higher joint probability ({glue:text}`joint_prefers_truth`
#   of the miscounted scenes checked; for DAIR {glue:text}`dair_joint_prefers_truth`).
# * Trained with colour and size perturbations, AIR counts {glue:text}`shaken_on_shaken_count` of perturbed
#   held-out scenes right, against {glue:text}`plain_on_shaken_count` for the network trained on plain
#   renders; transfer to photographs is not reproduced (no suitable photograph can be installed here).
# * {glue:text}`targets_met` of this chapter's targets are met; the table above says which.
