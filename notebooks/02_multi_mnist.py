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
# # 2. Multi-MNIST: AIR and DAIR learn to count without supervision
#
# Sec. II of the paper trains AIR on 50x50 images holding zero, one or two MNIST digits, "from
# scratch, i.e., without a curriculum or any form of supervision", and finds that the network
# "identifies the number of digits correctly, due to the opposing pressures of (a) wanting to explain
# the scene, and (b) the cost that arises from instantiating an object under the prior". This chapter
# reproduces that experiment with `airlib`: the dataset (Fig. 3a), reconstructions with attention
# windows (Fig. 3b), count accuracy over training and the scanning policy (Fig. 4), reconstructions
# along training (Fig. 5), and DAIR. Under the `paper` profile it loads trained models from
# `artifacts/`; under `smoke` it trains a tiny model for a few seconds (the figures are then only
# a check that the code runs).

# %% tags=["parameters"]
profile = "paper"
seed = 0
interactive = False    # True (in Jupyter): a canvas to draw digits on, inferred live (below)

# %% [markdown]
# **What this chapter reproduces**, from the committed records (every chapter's rows are on the {doc}`first page <00_intro>`):

# %% tags=["remove-input"]
from IPython.display import HTML, display  # noqa: E402

from airlib import claims  # noqa: E402

display(HTML(claims.html(claims.table(profile, chapter=2))))

# %% tags=["hide-input"]
import inspect
import json
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display
from myst_nb import glue

import airlib
import airlib.air
import airlib.experiments.multi_mnist
from airlib import estimators, experiments, plotting, runs
from airlib.data import multi_mnist_splits
from airlib.pretrained import seed_records
from airlib.profiles import check

check(profile)
torch.manual_seed(seed)
train_set, test_set = multi_mnist_splits(profile)
x_test, c_test = test_set.tensor(), torch.from_numpy(test_set.counts)
print(f"{len(train_set)} training and {len(test_set)} held-out images; counts {sorted(set(test_set.counts.tolist()))}")

# %% [markdown]
# ## The data (Fig. 3a)
#
# Each image holds 0, 1 or 2 MNIST digits at their native 28x28 size, placed uniformly at random so
# that their ink does not overlap. Training images use MNIST training digits, held-out images use
# MNIST test digits. The counts are used only to *measure* the model; training never sees them.

# %% tags=["hide-input"]
fig = plotting.show_images(x_test[:10], titles=[f"{n} digit" + "s" * (n != 1) for n in c_test[:10].tolist()])

# %% [markdown]
# ## Load (paper) or train (smoke)

# %% tags=["hide-input"]
air = airlib.load_or_train("air-multi-mnist", profile, seed)
dair = airlib.load_or_train("dair-multi-mnist", profile, seed)
model_cfg, train_cfg = airlib.config("air-multi-mnist", "paper")
air_records = seed_records("air-multi-mnist", profile, air.record)
dair_records = seed_records("dair-multi-mnist", profile, dair.record)
records = {f"AIR seed {seed}": air.record, f"DAIR seed {seed}": dair.record}
for label, r in records.items():
    print(f"{label}: {r['steps']} steps, {r['wall_time_s'] / 60:.1f} min on {r['device']}, commit {r['commit'][:8]}, "
          f"command `{runs.shown_command(r)}`")

# %% [markdown]
# ## Reconstructions and attention windows (Fig. 3b)
#
# Windows of steps 1, 2 and 3 are drawn in red, green and blue. As in the paper, no blue window
# should appear: the model has learned never to use the third step on this data.

# %% tags=["hide-input"]
with torch.no_grad():
    inf = air.infer(x_test[:12])
fig = plotting.show_reconstructions(x_test[:12], inf)

# %% [markdown]
# ## Count accuracy and the ELBO over training (Fig. 4, left)
#
# Logged every few hundred steps on 1,000 held-out images (deterministic inference: the most
# probable presence and posterior means).

# %% tags=["hide-input"]
fig = plotting.plot_training({label: r["history"] for label, r in records.items()})
sd = model_cfg.likelihood_sd
glue("pixel_nats", f"{-np.log(sd * np.sqrt(2 * np.pi)):.2f}", display=False)
glue("image_nats", f"{-np.log(sd * np.sqrt(2 * np.pi)) * model_cfg.image_size ** 2:.0f}", display=False)

# %% [markdown]
# The ELBO is *positive*, which may surprise a reader used to binarised MNIST: the likelihood here is
# a Gaussian **density** over continuous pixels with $\sigma = 0.3$, and a density can exceed 1. A pixel
# reconstructed exactly contributes $-\log(\sigma\sqrt{2\pi}) =$ {glue:text}`pixel_nats` nats, so a
# perfect reconstruction of all 2,500 pixels would be worth {glue:text}`image_nats` nats before the
# cost of the latents. Bounds are comparable between models with the same likelihood, not with
# published numbers for binarised data.

# %% tags=["hide-input"]
def first_reaching(hist, level=0.98):
    return next((h for h in hist if h["test_count_accuracy"] >= level), None)


rows = []
for label, r in records.items():
    reach, final = first_reaching(r["history"]), r["metrics"]
    rows.append({"run": label, "count accuracy (all held-out images)": final.get("test_count_accuracy", float("nan")),
                 "first step at 98% (1,000 images)": reach["step"] if reach else None,
                 "training minutes to 98%": reach["train_time"] / 60 if reach else None,
                 "training minutes in all": r["train_time_s"] / 60,
                 "seconds per step": r["train_time_s"] / max(1, r["steps"])})
display(pd.DataFrame(rows).set_index("run").style.format(
    {"count accuracy (all held-out images)": "{:.4f}", "first step at 98% (1,000 images)": "{:.0f}",
     "training minutes to 98%": "{:.1f}", "training minutes in all": "{:.1f}", "seconds per step": "{:.4f}"},
    na_rep="-"))

# %% [markdown]
# Training minutes count the training steps only (the periodic evaluations on 1,000 held-out
# images are excluded); seconds per step average over the whole run, on the machine named above.
#
# ## Reliability over seeds
#
# The paper says AIR "can reliably learn" to count. Each model is trained with one configuration (the
# one printed under "What makes training reliable" below; no per-seed tuning), and a run counts as a
# success when its deterministic count accuracy on all 10,000 held-out images reaches 98%. Each recipe
# was chosen on short runs of some seeds (AIR: {glue:text}`air_chosen_seeds`; DAIR:
# {glue:text}`dair_chosen_seeds`; the ablation below), so those seeds flatter it; the other seeds played
# no part in choosing it, and they are the ones the verdict at the top of the chapter rests on. Every
# seed's record is committed; the weights of seeds 0 to 4 (and of a failing seed) are too.

# %% tags=["hide-input"]
ablation = json.loads((runs.ARTIFACTS / "air-multi-mnist-ablation.json").read_text())
warm_records = seed_records("air-warmup-multi-mnist", profile)
concrete_records = seed_records("air-concrete-multi-mnist", profile)


groups = {}
for name, label, recs in (("air-multi-mnist", "AIR", air_records), ("dair-multi-mnist", "DAIR", dair_records)):
    tuned = {s: r for s, r in recs.items() if s in claims.chosen_on(ablation, name)}
    glue(f"{label.lower()}_chosen_seeds", claims.seeds_text(tuned) if tuned else "none", display=False)
    fresh = {s: r for s, r in recs.items() if s not in tuned}
    for part, group in ((f"{label}, seeds it was chosen on", tuned), (f"{label}, fresh seeds", fresh)):
        if group:
            groups[part] = group
if warm_records:
    groups["AIR + greedy warm-up, fresh seeds"] = warm_records
if concrete_records:
    groups["AIR + Concrete presence, fresh seeds"] = concrete_records
finals = {label: {s: r["metrics"]["test_count_accuracy"] for s, r in recs.items()} for label, recs in groups.items()}
rows = []
for label, recs in groups.items():
    for s, r in recs.items():
        reach = first_reaching(r["history"])
        rows.append({"recipe and seeds": label, "seed": s,
                     "count accuracy (10,000 held-out)": r["metrics"]["test_count_accuracy"],
                     "mean count": r["metrics"]["test_mean_count"],
                     "first step at 98%": reach["step"] if reach else None,
                     "minutes to 98%": reach["train_time"] / 60 if reach else None})
display(pd.DataFrame(rows).set_index(["recipe and seeds", "seed"]).style.format(
    {"count accuracy (10,000 held-out)": "{:.4f}", "mean count": "{:.2f}", "first step at 98%": "{:.0f}",
     "minutes to 98%": "{:.1f}"}, na_rep="-"))
successes = {label: f"{sum(a >= 0.98 for a in accs.values())} of {len(accs)}" for label, accs in finals.items()}
print("\n".join(f"{label}: {n} seeds reach 98%" for label, n in successes.items()))
for key, label in (("air_successes", "AIR, seeds it was chosen on"), ("dair_successes", "DAIR, seeds it was chosen on"),
                   ("air_fresh_successes", "AIR, fresh seeds"), ("dair_fresh_successes", "DAIR, fresh seeds"),
                   ("warm_successes", "AIR + greedy warm-up, fresh seeds"),
                   ("concrete_successes", "AIR + Concrete presence, fresh seeds")):
    glue(key, successes.get(label, "none (no such seeds committed)"), display=False)
fig = plotting.plot_seeds({label: recs for label, recs in groups.items() if label.startswith("AIR,")}
                          | {"DAIR, every seed": dair_records})

# %% [markdown]
# On the seeds its recipe was chosen on, AIR succeeds in {glue:text}`air_successes` and DAIR in
# {glue:text}`dair_successes`; on fresh seeds AIR succeeds in {glue:text}`air_fresh_successes` and DAIR
# in {glue:text}`dair_fresh_successes` (red curves: the seeds that do not reach 98%). Two recipes that go
# beyond the paper, below, succeed in more: the greedy warm-up in {glue:text}`warm_successes` fresh
# seeds, and the Concrete estimator of presence in {glue:text}`concrete_successes`.
#
# ### How a run fails, and when
#
# A failing run is stuck *one object over the count*: on every image with digits, the second step
# switches on whenever the first does, and its window (lower row above: the IoU of the windows of
# steps 1 and 2) overlaps the first digit, so one digit is drawn by two windows. One-digit images are
# counted as two and two-digit images as three, so only the empty third of the images is counted
# right. To find out when a run goes there, we trained many short runs (the ablation below) and logged
# the IoU and $q(z_\mathrm{pres}^i = 1)$ along training. Succeeding and failing runs start alike, all in
# the over-counting state (objects are nearly free while $\rho$ is near 0.5); they part ways within
# the first few hundred steps, and a run that is still over-counting then never leaves: its
# $q(z^2_\mathrm{pres} = 1 \mid z^1_\mathrm{pres} = 1)$ is saturated near 1, so the score function has
# nothing left to sample, and dropping the second window would lose the half digit it draws (hundreds
# of nats) until the first window has grown over the whole digit, which nothing rewards while the
# second window is there.

# %% tags=["hide-input"]
def locked(history):
    """Stuck for good: over-counting (mean count >= 1.6) with step 2 on whenever step 1 is (q >= 0.62)."""
    last = history[-1]
    return last["test_mean_count"] >= 1.6 and last["q_pres"][1] >= 0.62


longest = {}                                  # (experiment, configuration, seed) -> its longest run
for r in ablation["runs"]:
    key = (r["experiment"], r["config"], r["seed"])
    if key not in longest or r["steps"] > longest[key]["steps"]:
        longest[key] = r
by_config = {}
for (exp_name, config, s), r in sorted(longest.items()):
    by_config.setdefault((exp_name, config), []).append((s, locked(r["history"]), r["steps"]))
ablation_rows = []
for (exp_name, config), rows_ in by_config.items():
    over = next(r["overrides"] for r in ablation["runs"] if r["config"] == config)
    ablation_rows.append({"experiment": exp_name, "configuration": config,
                          "change": ", ".join(f"{k.split('.')[-1]} = {v}" for k, v in over.items()) or "none",
                          "steps": "/".join(f"{n:,}" for n in sorted({n for _, _, n in rows_})),
                          "seeds": len(rows_), "locked": sum(l for _, l, _ in rows_),
                          "locked seeds": ", ".join(str(s) for s, l, _ in rows_ if l) or "none"})
display(pd.DataFrame(ablation_rows).set_index(["experiment", "configuration"]))
lock_rate = {}
for key, config in (("clip_locked", "clip10"), ("base_locked", "base")):
    row = next(r for r in ablation_rows if r["configuration"] == config)
    glue(key, f"{row['locked']} of {row['seeds']}", display=False)
    lock_rate[key] = row["locked"] / row["seeds"]
glue("clip_effect", "clipping made the over-counting lock rarer" if lock_rate["clip_locked"] < lock_rate["base_locked"]
     else "clipping did not make the over-counting lock rarer", display=False)
glue("ablation_runs", f"{len(longest)}", display=False)
glue("ablation_commit", ablation["code"].split("'")[0].replace("commit ", ""), display=False)

# %% [markdown]
# {glue:text}`ablation_runs` short runs of the paper profile, each stopped after the steps shown (a failing run
# locks by step 500) and scored on held-out images along the way. Each change is relative to the recipe of the
# time (commit {glue:text}`ablation_commit`), which did not clip gradients; `clip = 10.0` is the change the
# chapter's recipe kept.

# %% tags=["hide-input"]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
for r in ablation["runs"]:
    if r["experiment"] != "air-multi-mnist":
        continue
    h = r["history"]
    stuck = locked(h)
    style = dict(color="tab:red" if stuck else "tab:blue", alpha=0.35, lw=1)
    steps = [x["step"] for x in h]
    axes[0].plot(steps, [x["test_mean_count"] for x in h], **style)
    axes[1].plot(steps, [x["q_pres"][1] for x in h], **style)
    axes[2].plot(steps, [x["iou12"] for x in h], **style)
for ax, title in zip(axes, ("mean inferred count", r"$q(z^2_\mathrm{pres} = 1)$, mean over images",
                           "IoU of windows 1 and 2")):
    ax.set(title=title, xlabel="training step", xlim=(0, 3000))
fig.suptitle("AIR ablation runs: stuck (red) and escaped (blue)", y=1.02)
fig.tight_layout()
plt.show()

# %% tags=["hide-input"]
failed = [s for s, r in air_records.items() if r["metrics"]["test_count_accuracy"] < 0.98]
shown = [s for s in failed if s in airlib.available_seeds("air-multi-mnist", weights=True)] if profile == "paper" else []
if shown:
    with warnings.catch_warnings():                  # the loader warns that this seed failed: shown on purpose
        warnings.simplefilter("ignore")
        bad_model = airlib.load_pretrained("air-multi-mnist", seed=shown[0])
    with torch.no_grad():
        inf_all = bad_model.infer(x_test[:2000])
    wrong = (inf_all.count != c_test[:2000]).nonzero()[:, 0][:10]
    fig = plotting.show_reconstructions(x_test[:2000][wrong], type(inf_all)(*[t[wrong] for t in inf_all]),
                                        title=f"AIR seed {shown[0]} (failed): miscounted held-out images",
                                        label=f"AIR seed {shown[0]}")
else:
    print("no failing AIR seed with committed weights to show")

# %% [markdown]
# ### Beyond the paper: a greedy warm-up
#
# The failure above is a local optimum of the ELBO: the first window would have to grow over the
# whole digit before the second could be dropped, and nothing rewards that while the second is
# there. A warm-up rewards it: for the first 2,000 steps the loss also asks each proper prefix of the
# steps to explain the image on its own,
#
# $$-\mathcal{L} \;-\; \beta_t \sum_{i=1}^{N-1} \log p_\theta(\mathbf{x} \mid \mathbf{z}^{1:i}),
# \qquad \beta_t = 0.1\,\max(0,\ 1 - t/2000),$$
#
# a pathwise term in $z_\mathrm{what}$ and $z_\mathrm{where}$ (`AIR.prefix_loglik`) that fades to
# zero, after which training maximises the paper's ELBO alone with the same estimator. Everything else
# is the chapter's recipe (below, under "What makes training reliable"; experiment
# `air-warmup-multi-mnist`). It is not the paper's method and is shown
# beside it, not in its place. Its weight was chosen on two runs that lock under the paper's recipe
# (seed 7 here, and seed 0 of the 0, 1 or 3-digit data of chapter 3), and it is judged on seeds 10
# to 19, which played no part in choosing it.

# %% tags=["hide-input"]
def beside_the_paper(code, name: str, label: str, records: dict):
    """A recipe beyond the paper: the code that makes it, and its fresh seeds' curves beside the paper's recipe."""
    print(inspect.getsource(code))
    if not records:
        print(f"no committed seeds of {name} under this profile")
        return None
    return plotting.plot_seeds({"AIR, paper's recipe, fresh seeds": groups.get("AIR, fresh seeds", {}),
                                label: records})


fig = beside_the_paper(airlib.air.AIR.prefix_loglik, "air-warmup-multi-mnist", "AIR + greedy warm-up, fresh seeds",
                       warm_records)

# %% [markdown]
# ### Beyond the paper: the Concrete estimator of presence
#
# The warm-up leaves the paper's estimator alone and changes the objective for a while. The other way out
# changes how $z_\mathrm{pres}$ is trained. During training, each step's presence is drawn from its binary
# Concrete relaxation (chapter 1's `est.relaxed_presence`, temperature 1), a number in $(0, 1)$ that scales
# the step's object on the canvas, and the presence terms of the bound are replaced by their expectation,
# $-\mathrm{KL}(q(z^i_\mathrm{pres}) \,\|\, \mathrm{Bernoulli}(\rho))$ for each step that runs. Every
# term is then differentiable, so the gradient is pathwise: no score function and no baseline. Evaluation
# and the bound reported are unchanged (binary presence, its mode for counting). The relaxed objective is
# not the ELBO of the discrete model, so this is a biased estimator of its gradient; what it changes is that
# the decision to switch a step off is learned from the gradient of how much the step is on, rather than
# from a score-function estimate over the samples in which it happens to be off. One setting differs from the
# chapter's recipe: the presence prior's annealing starts at $\rho =$ {glue:text}`concrete_rho_start` rather
# than {glue:text}`paper_rho_start`, so that an extra object is not free in the first steps, when two relaxed
# windows would otherwise settle on one digit (experiment `air-concrete-multi-mnist`). It was chosen on
# short runs of seed 7 here and seeds 0, 2 and 4 of chapter 3's 0, 1 or 3-digit data, and is judged on the
# seeds in the table above, which played no part in choosing it, and on five fresh seeds in chapter 3.

# %% tags=["hide-input"]
paper_train, concrete_train = (experiments.config(name, profile)[1] for name in ("air-multi-mnist",
                                                                                  "air-concrete-multi-mnist"))
glue("paper_rho_start", f"{paper_train.prior_start:g}", display=False)
glue("concrete_rho_start", f"{concrete_train.prior_start:g}", display=False)
fig = beside_the_paper(airlib.air.AIR.relaxed_objective, "air-concrete-multi-mnist",
                       "AIR + Concrete presence, fresh seeds", concrete_records)

# %% [markdown]
# ## The scanning policy (Fig. 4, right)
#
# Heatmaps of the centres of the attention windows of step 1 (red) and step 2 (green) on held-out
# images, one panel per model (seed 0). The paper found the policy to be spatial: each run learns its
# own rule (for instance, left digit first), always the same within a run.

# %% tags=["hide-input"]
policy = {}
for label, m in (("AIR", air), ("DAIR", dair)):
    with torch.no_grad():
        out = m.infer(x_test[:2000])
    policy[f"{label} seed {seed}"] = (out.z_where, out.z_pres)
fig = plotting.scanning_heatmaps(policy)

# %% [markdown]
# ## Reconstructions along training (Fig. 5)
#
# The same held-out images, reconstructed by the model at several points of training (saved as the
# run went). At step 0 the inference network switches no object on. While objects are still cheap
# ($\rho$ near 0.5) the model explains each digit with several overlapping, blurry steps, as the
# paper describes ("at first very poor ... it makes use of all available time-steps"); as $\rho$ is
# annealed towards $10^{-7}$ the extra steps stop paying for themselves and the count settles.

# %% tags=["hide-input"]
fig = plotting.show_snapshots(x_test[:8], airlib.experiments.multi_mnist.snapshots(air.figures))

# %% [markdown]
# ## Count confusion matrix
#
# On every held-out image:

# %% tags=["hide-input"]
with torch.no_grad():
    counts = air.infer(x_test).count
fig, conf = plotting.plot_confusion(c_test.numpy(), counts.numpy())
print(f"count accuracy on {len(x_test)} held-out images: {(counts == c_test).float().mean():.4f}")

# %% [markdown]
# ## The IWAE bound
#
# The ELBO is a lower bound on $\log p(\mathbf{x})$; the importance-weighted bound
# $\mathcal{L}_K = \mathbb{E}\log \frac{1}{K}\sum_k p(\mathbf{x}, \mathbf{z}_k, n_k)/q(\mathbf{z}_k, n_k|\mathbf{x})$
# (`estimators.iwae_bound`) tightens as $K$ grows, and with $K = 1$ is the ELBO itself.

# %% tags=["hide-input"]
gen = torch.Generator().manual_seed(seed)
x_iw = x_test[:200]
bounds = {k: estimators.iwae_bound(air.log_weights(x_iw, k, gen)).mean().item() for k in (1, 5, 50)}
for k, b in bounds.items():
    print(f"L_{k:<3d} = {b:8.2f} nats per image")

# %% [markdown]
# ## Inference speed on this machine
#
# Inference is one pass of a small recurrent network: no optimisation, no sampling.

# %% tags=["hide-input"]
x_speed = x_test[:1000]
air.infer(x_speed[:100])
t0 = time.perf_counter()
air.infer(x_speed)
dt = time.perf_counter() - t0
print(f"{len(x_speed) / dt:,.0f} images per second at batch {len(x_speed)} "
      f"({torch.get_num_threads()} threads)")

# %% [markdown]
# ## How it works: the model (Fig. 2)
#
# The generative model draws the number of objects from a geometric prior truncated at $N = 3$
# (written as the unary code $z_\mathrm{pres}$), and for each object a code $z_\mathrm{what} \sim
# \mathcal{N}(0, I)$ that the decoder turns into a 28x28 patch, and a pose $z_\mathrm{where} = (s, x, y)$
# at which a spatial transformer places it on the canvas:
#
# $$p_\theta(\mathbf{x}) = \sum_{n=0}^{N} p_N(n) \int p^z_\theta(\mathbf{z}|n)\, p^x_\theta(\mathbf{x}|\mathbf{z})\, d\mathbf{z}. \quad (1)$$
#
# The paper does not say which pixel likelihood it uses. We take $\mathbf{x} \sim \mathcal{N}(\sum_i
# z^i_\mathrm{pres} y^i, 0.3^2 I)$ (as Pyro's AIR does): leaving a digit out then costs hundreds of
# nats, while an object costs its prior, $-\log \rho$ for the presence plus the KL of its
# $z_\mathrm{what}$ and $z_\mathrm{where}$. That is the Occam's razor that makes counting possible.
# The paper's Fig. 2, drawn from the library:

# %% tags=["hide-input"]
fig = plotting.model_diagram(airlib.config("air-multi-mnist", "paper")[0])
plt.show()

# %% [markdown]
# The diagram is drawn from `AIRConfig`, so its sizes are the library's. The model's docstring states it in full:

# %% tags=["hide-output"]
print(airlib.air.__doc__)

# %% [markdown]
# The inference network of Eq. (2) runs for $N$ steps. At each step an LSTM reads the image (AIR) or
# the error canvas $\mathbf{x}^i - \mathbf{x}$ (DAIR) and the previous step's latents, and outputs
# $q(z^i_\mathrm{pres})$ and $q(z^i_\mathrm{where})$; the window at $z^i_\mathrm{where}$ is cut out by the
# inverse spatial transformer and encoded into $q(z^i_\mathrm{what})$:

# %% tags=["hide-output"]
print(inspect.getsource(airlib.air.AIR.forward))

# %% [markdown]
# ## How it works: learning (Sec. I-B)
#
# Continuous latents use the pathwise gradient, Eq. (6); each $z^i_\mathrm{pres}$ uses the likelihood
# ratio estimator, Eq. (7), credited only with the terms it can change (`estimators.learning_signal`).
# Its baseline has two parts. The first is exact: if $z^i_\mathrm{pres} = 0$, every later step is
# absent too, so the learning signal of *stopping* at step $i$ is known without sampling
# ($\log p(\mathbf{x}|\mathbf{z}^{1:i-1}) + \log p(z^i_\mathrm{pres}=0) - \log q(z^i_\mathrm{pres}=0)$);
# subtracting it makes the score term vanish when the sample stops, and equal to *value of continuing
# minus value of stopping* when it continues. The second is NVIL's learned baseline, an MLP of the
# detached image features and LSTM state that regresses the remainder.

# %% tags=["hide-output"]
print(inspect.getsource(airlib.air.AIR.stop_value))
print(inspect.getsource(airlib.air.AIR.loss))

# %% [markdown]
# ### What makes training reliable and fast
#
# Public AIR implementations often get stuck using all three steps, or succeed in only some seeds.
# These choices (all in `airlib.config("air-multi-mnist", "paper")`) made it work here:

# %% tags=["hide-input"]
display(experiments.settings({"model": model_cfg, "training": train_cfg}))

# %% [markdown]
# * **Objects start mostly absent** (`init_pres_logit = -2`: $q(z^i_\mathrm{pres} = 1) = 0.12$ at
#   first). Step 1 then learns to find *a* digit in every image before later steps are switched on
#   for the remaining digits. This was the decisive change; see "Two recipes" below.
# * **A prior on the window size that matches the objects** (`scale_prior = (2.2, 0.1)`, windows of
#   about 23 pixels, while MNIST ink fits in 20x20). In short runs with a loose scale prior, one
#   window grew to cover both digits of an image and the model settled on counting 1 for 2-digit
#   images; with a tight one a window cannot hold two digits. (An early observation from runs that
#   were not recorded, so we give no number for it.)
# * **A presence prior annealed from free to expensive**: $\rho$ goes log-linearly from 0.5 (an
#   object costs nothing) to $10^{-7}$ (16 nats per object) over the first 4,000 steps. With a
#   constant $\rho = 0.01$, short (unrecorded) runs kept all three steps for every non-empty image:
#   a helper step improves a blurry reconstruction by more than $-\log 0.01 = 4.6$ nats.
# * **The exact stop-value baseline** for $z_\mathrm{pres}$ (above), plus NVIL's learned baseline with
#   a ten times larger learning rate than the model's.
# * **A decoder that starts near empty** (output bias $-2$), and an inference network whose first
#   windows sit at the centre at the prior's scale with a small standard deviation (0.1).
# * **Adam at $10^{-3}$** (ten times the usual $10^{-4}$), decayed linearly to $10^{-4}$ over the
#   second half of training, with **the gradient's norm clipped at 10**. In the short runs of the ablation
#   below, {glue:text}`clip_effect` ({glue:text}`clip_locked` seeds locked with it, {glue:text}`base_locked`
#   without); with it, {glue:text}`air_fresh_successes` fresh seeds reach 98% (the reliability section below).
#
# How we arrived at this recipe is told in the appendix at the end of the chapter.

# %% [markdown]
# ## DAIR
#
# DAIR's LSTM reads, at step $i$, the error canvas between the image and the reconstruction from
# steps $1..i-1$ instead of the image.

# %% tags=["hide-input"]
with torch.no_grad():
    inf_d = dair.infer(x_test[:12])
    counts_d = dair.infer(x_test).count
fig = plotting.show_reconstructions(x_test[:12], inf_d, label="DAIR")
print(f"DAIR count accuracy on {len(x_test)} held-out images: {(counts_d == c_test).float().mean():.4f}")

# %% [markdown]
# ## Try it: draw digits
#
# The book's {doc}`try_air` page runs this model (exported to ONNX) in the browser while you draw.
# Running this notebook yourself in Jupyter, set `interactive = True` in the parameters cell: the
# cell below then shows the same canvas, each stroke inferred by `model.infer` in the kernel.

# %% tags=["hide-input"]
if interactive:
    from airlib.try_air import DrawAIR
    display(DrawAIR(air, image=x_test[0]))
else:
    print("interactive = False: the drawing canvas is off (it needs a live Jupyter kernel)")

# %% [markdown]
# ## Recap
#
# * AIR learns to count the digits of multi-MNIST without ever seeing a count: the tables above give
#   its held-out count accuracy per seed, the confusion matrix shows
#   where the rare errors are; a successful run never uses the third step. On the seeds its recipe
#   was chosen on, AIR succeeds in {glue:text}`air_successes` and DAIR in {glue:text}`dair_successes`;
#   on fresh seeds AIR succeeds in {glue:text}`air_fresh_successes` and DAIR in
#   {glue:text}`dair_fresh_successes`. A failing run stays one object
#   over the count, drawing one digit with two windows.
# * Beyond the paper, a greedy warm-up (each prefix of the steps also rewarded for explaining the
#   image during the first 2,000 steps) succeeds in {glue:text}`warm_successes` fresh seeds.
# * Beyond the paper, the Concrete estimator of presence (relaxed presence trained pathwise, the prior
#   annealed from {glue:text}`concrete_rho_start`) succeeds in
#   {glue:text}`concrete_successes` fresh seeds; chapter 3 trains the same configuration on 0, 1 or 3
#   digits, where the paper's estimator locks in every seed.
# * What made it reliable and fast on a CPU: objects start absent so the first step learns to find
#   a digit (no parked first step), a window-size prior that matches the digits, a presence prior
#   annealed from free to $10^{-7}$, the exact stop-value baseline, Adam at $10^{-3}$ and gradient
#   clipping at norm 10 (the ablation shows what each candidate change does to the success rate). Training
#   takes minutes on one CPU thread; `benchmarks/air_speed.py` records the speed of a training step
#   and what each speed-up is worth (the image projection computed once per image, the spatial
#   transformer as two small matrix products, fused Adam, one thread).
# * DAIR, whose LSTM reads the error canvas, is trained with the same recipe (its per-seed results are
#   in the table above). The paper's case for DAIR is generalisation to other numbers of digits,
#   which chapter 3 tests.
# * Everything here is one call away: `airlib.load_pretrained("air-multi-mnist")` and
#   `model.infer(images)`; `python -m airlib train air-multi-mnist --profile paper --seed 0` retrains.

# %% [markdown]
# ## Appendix: what we tried
#
# ```{admonition} Two recipes before this one: the parked first step (history)
# :class: dropdown
# Our first recipe started with every step present (`init_pres_logit = +2`) and trained for 20,000
# steps. Most of its seeds counted well, but seed 3 stopped far lower (the output below lists each
# seed's final accuracy, read from the kept record). The failure is a
# *parking* step: on a one-digit image whose digit lies on the side the learned policy visits
# second, step 1 parks an empty window in a blank corner and step 2 explains the digit. The unary
# code of Eq. (2) cannot drop step 1 alone, and no pathwise gradient reaches a window that overlaps
# no ink, so this is a local optimum. It forms while all steps are on and the policy fixes an order
# ("left digit first"). Starting with objects mostly absent reverses the order of learning: step 1
# alone must explain something, so it learns to go to a digit, and step 2 turns on later for the
# second digit only. The same seed 3 then counted well within a few thousand steps (the probe's
# curve below). That second
# recipe still failed in a second way in some seeds (one object over the count; see the reliability
# section); the third, current recipe adds gradient clipping (AIR succeeds in
# {glue:text}`air_successes` seeds, DAIR in {glue:text}`dair_successes`). The first recipe's histories
# (seed 4 was stopped by hand, at the step printed below, to make room for the second recipe's runs) are kept in
# `artifacts/air-multi-mnist-recipe1.json`, the second's in `artifacts/air-multi-mnist-recipe2.json`:
# ```


# %% tags=["hide-cell"]
recipe1 = json.loads((runs.ARTIFACTS / "air-multi-mnist-recipe1.json").read_text())
curves = {f"recipe 1, {k.replace('air-multi-mnist-seed', 'seed ')}": r["history"] for k, r in recipe1["runs"].items()
          if k.startswith("air-")}
curves["recipe 1 seed 3 with objects absent at first (probe)"] = recipe1["probe_seed3_init_absent"]["history"]
fig = plotting.plot_training(curves)
for k, r in recipe1["runs"].items():
    print(f"{k}: " + (f"{r['final']['test_count_accuracy']:.4f} on all held-out images after {r['steps']} steps"
                      if r["final"] else f"stopped at step {r['steps']}"))
