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
# `airlib.tabletop_scenes` (the scene model), `airlib.render.tabletop` (the renderer), `airlib.tabletop_air`
# (the network and its ELBO) and `airlib.experiments.tabletop` (training and scores); every score below is read
# from the recorded study `tabletop-results` (`python -m airlib evaluate tabletop-results`), its figures drawn by
# `airlib.figures.tabletop`.

# %% tags=["parameters"]
profile = "paper"
seed = 0

# %% [markdown]
# **What this chapter reproduces**, from the committed records (every chapter's rows are on the {doc}`first page <00_intro>`):

# %% tags=["remove-input"]
from IPython.display import HTML, display  # noqa: E402

from airlib import claims  # noqa: E402

display(HTML(claims.html(claims.table(profile, chapter=6))))

# %% tags=["hide-input"]
import inspect
import json
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display
from myst_nb import glue

import airlib.runs
from airlib import evaluations, experiments, tabletop_scenes, tabletop_air
from airlib.evaluations import tabletop as study
from airlib.evaluations import transfer
from airlib.experiments import tabletop as T
from airlib.figures import tabletop as figures

torch.set_num_threads(1)
SPEC = T.SPEC
cfg = experiments.config("tabletop-air", profile)[1]
renderer = T.renderer(cfg.render_size)
prior = tabletop_scenes.ScenePrior()
inputs = evaluations.Inputs(profile)
record, tensors = evaluations.load("tabletop-results", profile, inputs)   # every score of this chapter
scores, study_cfg = record["metrics"], study.study_config(profile)
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
display(experiments.settings({"training": cfg}))

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
print(inspect.getsource(tabletop_scenes.sample_scenes))

# %% tags=["hide-input"]
rows = [("types may repeat", dict(repeats=True)), ("each type at most once", dict(repeats=False)),
        ("moving camera", dict(repeats=True, moving_camera=True))]
figures.sample_scenes([(title, tabletop_scenes.sample_scenes(6, np.random.default_rng([seed, r]), spec=SPEC, **kw))
                       for r, (title, kw) in enumerate(rows)], renderer)
plt.show()

# %% [markdown]
# ## Training (or loading the committed models)
#
# The `paper` profile loads the models in `artifacts/`, each trained on this 2-core CPU by
# `python -m airlib train NAME --profile paper` ({glue:text}`steps` steps of {glue:text}`batch` fresh
# scenes, the fixed-camera DAIR {glue:text}`dair_recipe`; the JSON records hold the commands, commits and wall times); the `smoke` profile trains
# tiny ones here. Three AIR networks (types repeat, each type once, moving camera), two DAIR networks
# (types repeat, moving camera; below) and four supervised ones: the paper's naive network, whose labels come slot by slot in the data's arbitrary order, on
# both data sets, and the same network with its labels sorted by type (absent slots last), the
# ordering that makes supervision "straightforward when there are no repetitions".

# %% tags=["hide-input"]
records = {label: inputs.record(name, seed) for label, name in study.NETWORKS.items()}
trained = pd.DataFrame({study.shown(label): {
    "steps": r["steps"], "minutes": r["wall_time_s"] / 60, "device": r["device"], "commit": r["commit"][:8],
    "met its own target": "no" if experiments.get(study.NETWORKS[label]).failed(r) else "yes",
    "continued": "; ".join(f"from {e['from_steps']:,} steps by {e['commit'][:8]}" for e in r.get("extended", []))}
    for label, r in records.items()}).T.rename_axis(f"seed {seed}")
display(trained.style.format({"minutes": "{:.1f}", "steps": "{:,}"}))
figures.training_curves({study.shown(label): r for label, r in records.items()}, cfg.check_scenes)
plt.show()

# %% [markdown]
# ## Results on held-out scenes
#
# Each network is scored on the held-out scenes of its own data set (the AIR network with the moving
# camera on moving-camera scenes). Count accuracy is over all scenes; identity accuracy and position
# error (in table widths) over the objects of the scenes counted right, each inferred object matched
# to a true one by the permutation with the least total distance; reconstruction error is the mean
# squared difference of the observed and re-rendered $32\times32$ images.

# %% tags=["hide-input"]
networks = scores["networks"]
truths, guesses = study.truths(profile), study.guesses(tensors)     # held-out scenes; each network's inference
n_test = len(truths["AIR"].present)
table = pd.DataFrame(networks).T.rename(index=study.shown).rename(columns={
    "count_accuracy": "count", "identity_accuracy": "identity", "position_error": "position",
    "camera_error_deg": "camera (deg)", "reconstruction_error": "recon. MSE"})
display(table.style.format({"count": "{:.1%}", "identity": "{:.1%}", "position": "{:.3f}", "camera (deg)": "{:.1f}",
                            "recon. MSE": "{:.5f}", "minutes": "{:.0f}"}))
glue("n_test", f"{n_test:,}", display=False)
for label, key in (("AIR", "air"), ("AIR, each type once", "air_norep"), ("AIR, moving camera", "air_cam"),
                   ("DAIR", "dair"), ("DAIR, moving camera", "dair_cam"),
                   ("supervised", "sup"), ("supervised, each type once", "sup_norep"),
                   ("supervised by type", "sup_type"), ("supervised by type, each type once", "sup_type_norep")):
    r = networks[label]
    glue(f"{key}_count", f"{r['count_accuracy']:.1%}", display=False)
    glue(f"{key}_id", f"{r['identity_accuracy']:.1%}", display=False)
    glue(f"{key}_pos", f"{r['position_error']:.3f}", display=False)
    glue(f"{key}_mse", f"{r['reconstruction_error']:.5f}", display=False)
    glue(f"{key}_min", f"{r['minutes']:.0f}", display=False)
glue("air_cam_deg", f"{networks['AIR, moving camera']['camera_error_deg']:.1f}", display=False)
glue("dair_cam_deg", f"{networks['DAIR, moving camera']['camera_error_deg']:.1f}", display=False)
checks = study.targets(networks)
display(pd.Series({k: "holds" if v else "does not hold" for k, v in checks.items()},
                  name="the paper's claim, made measurable").to_frame())
glue("targets_met", f"{sum(checks.values())} of {len(checks)}", display=False)
verdicts = claims.table(profile, chapter=6)["verdict"]
glue("claims_reproduced", f"{(verdicts == claims.VERDICTS[0]).sum()} of {len(verdicts)}", display=False)
glue("verdict", "AIR and DAIR meet the paper's picture here." if all(checks.values()) else
     "Here the networks fall short of the paper: " + "; ".join(k for k, v in checks.items() if not v) + " (missed).",
     display=False)

# %% [markdown]
# With types that may repeat, AIR counts {glue:text}`air_count` of the {glue:text}`n_test` held-out
# scenes right and names {glue:text}`air_id` of the objects in them, against
# {glue:text}`sup_count` and {glue:text}`sup_id` for the naive supervised network and
# {glue:text}`sup_type_count` and {glue:text}`sup_type_id` for the supervised network with labels
# sorted by type. With the moving camera AIR counts {glue:text}`air_cam_count` right and is off
# by {glue:text}`air_cam_deg` degrees in camera angle on average.
#
# DAIR, the variant of Sec. II whose every step reads the error canvas
# $\Delta\mathbf{x}^i = \mathbf{x}^i - \mathbf{x}$ of the scene rendered from the objects described so far
# instead of the image, trained with AIR's recipe for {glue:text}`dair_recipe`, counts {glue:text}`dair_count` right and names
# {glue:text}`dair_id` of the objects (moving camera, trained without the lower rate, which lowered its count:
# {glue:text}`dair_cam_count`, camera off by {glue:text}`dair_cam_deg` degrees). The plain network's later steps barely learn: its second step's place is
# not where the remaining object is, and its third step is almost never used (the confusion table below). With
# the error canvas
# every step faces the first step's task, finding an object in what is left unexplained. Of the measurable
# targets in the table above (counts and identities "accurate for the most part", AIR competitive with the naive
# supervised network, each for AIR and DAIR), {glue:text}`targets_met` hold.
#
# {glue:text}`verdict`
#
# ## DAIR over seeds
#
# The tables above are seed 0. DAIR's recipe trained with other seeds (no per-seed tuning), each scored
# by its own record on the {glue:text}`n_test` held-out scenes:

# %% tags=["hide-input"]
seeds = pd.DataFrame(scores["seeds"]["rows"]).T
seeds.index = seeds.index.astype(int).rename("seed")
display(seeds.drop(columns="camera").style.format({"count": "{:.1%}", "identity": "{:.1%}", "position": "{:.3f}", "minutes": "{:.0f}",
                            "check before the drop": "{:.0%}", "check at the end": "{:.0%}"}))
pending = scores["seeds"]["pending"]
glue("dair_seed_n", f"{len(seeds)}", display=False)
for column, key in (("count", "dair_seed_count_range"), ("identity", "dair_seed_id_range")):
    glue(key, claims.span(seeds[column]), display=False)
glue("dair_seed_count_mean", f"{seeds['count'].mean():.1%}", display=False)
glue("n_check", f"{dair_cfg.check_scenes}", display=False)
gain = study.lower_rate_gain(scores["seeds"]["rows"], study_cfg.pilot_seeds)
if gain:  # the lower rate's effect, seed by seed, on the checks logged in training (smoke: no drop)
    p_end = seeds["check at the end"].mean()  # a check's binomial standard error, at the seeds' mean count
    glue("dair_check_se", f"{np.sqrt(p_end * (1 - p_end) / dair_cfg.check_scenes) * 100:.0f}", display=False)
    pilots = ", ".join(map(str, study_cfg.pilot_seeds))
    glue("dair_drop_gain", f"{gain['mean'] * 100:+.1f} points (from {gain['min'] * 100:+.0f} to {gain['max'] * 100:+.0f}; "
         f"higher at the end on {gain['higher']} of {gain['seeds']} seeds"
         + (f"; without seed {pilots}, on which the recipe was chosen: {gain['mean_fresh'] * 100:+.1f} points)"
            if gain["mean_fresh"] is not None else ")"), display=False)
else:
    glue("dair_drop_gain", "not measured (this profile has no lower rate)", display=False)
    glue("dair_check_se", "(not measured)", display=False)
glue("dair_seeds_pending",
     "The smoke profile trains one seed." if profile != "paper" else
     f"All ten seeds, {study_cfg.seeds[0]} to {study_cfg.seeds[-1]}, are trained." if not pending else
     f"Seeds {', '.join(map(str, pending))} of {study_cfg.seeds[0]} to {study_cfg.seeds[-1]} are not trained yet: "
     "the recipe is not yet judged over ten seeds.", display=False)

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
# (`airlib.tabletop_scenes.log_prior` is the prior part of its ELBO).

# %% tags=["hide-input"]
for net, key in (("AIR", "joint"), ("DAIR", "dair_joint")):
    joint, counts = scores["joint"][net], scores["counts"][net]
    display(pd.DataFrame(counts["confusion"]).T.fillna(0).astype(int).sort_index().sort_index(axis=1)
            .rename_axis(index="true count", columns=f"{net}'s count"))
    print(f"{net}: {joint['wrong']} of {joint['n']} scenes counted wrong; the truth has the higher joint in "
          f"{joint['prefers_truth']:.0%} of them, by a median of {joint['median_gap']:.0f} nats")
    glue(f"{key}_wrong", f"{joint['wrong']}", display=False)
    glue(f"{key}_prefers_truth", f"{joint['prefers_truth']:.0%}", display=False)
    glue(f"{key}_gap", f"{joint['median_gap']:.0f}", display=False)
    glue(f"{key}_under", f"{counts['under']:.0%}", display=False)
    glue(f"{key}_over", f"{counts['over']:.0%}", display=False)
    glue(f"{key}_verdict", f"The model is not what fails {net}: under it, the true description is worth more than "
         f"{net}'s in nearly every miscounted scene, so the objective would reward the right count; the inference "
         "network does not find it." if joint["prefers_truth"] >= 0.9 else
         f"The model itself often prefers {net}'s description to the true one, so better inference alone would not "
         "fix its count.", display=False)
glue("joint_n", f"{scores['joint']['AIR']['n']}", display=False)

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

# %% tags=["hide-input"]
lone = scores["lone"]
display(pd.DataFrame({net: {f"lone {k}": v for k, v in r["right"].items()} for net, r in lone.items()}).T
        .style.format("{:.0%}"))
weakest = []
for net, r in lone.items():
    whose = f"the moving-camera {net.split(',')[0]}'s" if "moving" in net else f"{net}'s"
    weakest.append(f"{whose} the {r['weakest']} ({r['right'][r['weakest']]:.0%} right; of the rest "
                   f"{r['left_out']:.0%} left out, {r['counted_more']:.0%} counted as more)")
glue("lone_weakest", "; ".join(weakest), display=False)

# %% [markdown]
# The weakest type differs by network: {glue:text}`lone_weakest`. Under the wide blur of the likelihood a
# small cup is worth little more than its prior cost, and a misplaced one costs little, so leaving it out is
# cheap.
#
# ## Fig. 9, left: the scene from above
#
# Ground truth (filled discs, the body's footprint in the type's colour) and the inference (red
# outlines, the step number inside) of AIR and DAIR (one row each, the same scenes) for held-out scenes,
# seen from above; the arrows are the true (black) and inferred (red) camera directions of the
# moving-camera networks.


# %% tags=["hide-input"]
examples = [b for b in range(n_test) if truths["AIR"].present[b].sum() >= 2][:4]
cam_examples = [b for b in range(n_test) if truths["AIR, moving camera"].present[b].sum() >= 2][:4]
figures.scenes_from_above([(net, truths[net], guesses[net], picks, cam) for net, picks, cam in (
    ("AIR", examples, False), ("DAIR", examples, False), ("AIR, moving camera", cam_examples, True),
    ("DAIR, moving camera", cam_examples, True))], renderer)
plt.show()

# %% [markdown]
# ## Fig. 9, middle: AIR against the supervised networks

# %% tags=["hide-input"]
figures.against_supervised(networks, [
    ("types repeat", "AIR", "supervised", "supervised by type"),
    ("each type once", "AIR, each type once", "supervised, each type once", "supervised by type, each type once")])
plt.show()

# %% [markdown]
# ## Fig. 9, right: where each step looks
#
# Where AIR's and DAIR's objects are inferred on the table over the held-out scenes with repeated types, by
# the step that describes them (first row of each network) and by their inferred type (second row). Objects
# are exchangeable in Eq. (8), so each network chooses its own order of description.

# %% tags=["hide-input"]
fig, step_kinds = figures.where_steps_look({net: guesses[net] for net in ("AIR", "DAIR")})
plt.show()
display(step_kinds)

# %% [markdown]
# ## Fig. 10: the moving camera
#
# Held-out scenes from a random camera (top), the re-rendered inferences of the AIR and DAIR networks with
# $F(\mathbf{x})$ and of the sleep-trained network (below), and the distribution of their camera angle errors.

# %% tags=["hide-input"]
figures.moving_camera(truths["AIR, moving camera"], {study.shown(net).split(",")[0]: guesses[net] for net in (
    "AIR, moving camera", "DAIR, moving camera", "sleep phase, moving camera")}, renderer)
plt.show()
for net, key in (("AIR, moving camera", "air"), ("DAIR, moving camera", "dair"), ("sleep phase, moving camera", "sleep")):
    glue(f"{key}_cam_far", f"{scores['camera'][net]['far']:.1%}", display=False)
    glue(f"{key}_cam_median", f"{scores['camera'][net]['median']:.1f}", display=False)
glue("cam_far", f"{study_cfg.camera_far_deg:g}", display=False)

# %% [markdown]
# AIR's mean camera error comes mostly from {glue:text}`air_cam_far` of the scenes whose angle it misses by
# more than {glue:text}`cam_far` degrees (median error {glue:text}`air_cam_median` degrees); DAIR misses
# {glue:text}`dair_cam_far` by that much (median {glue:text}`dair_cam_median` degrees). The sleep-trained network
# of the last sections (beyond the paper) misses {glue:text}`sleep_cam_far` by that much (median
# {glue:text}`sleep_cam_median` degrees).

# %% [markdown]
# ## Training with perturbations, and transfer to real photographs
#
# The paper shows AIR's inference on photographs of a real table with plates, after training "with random
# colour and size perturbations to rendered objects". `tabletop-air` has a twin, `tabletop-air-perturbed`,
# trained by the same recipe on the same scenes rendered with such perturbations (`T.perturbed_images`:
# each object's size drawn from {glue:text}`perturbed_scales` of the model's mesh, each type's colour moved
# by up to {glue:text}`colour_jitter` per channel; the model's own renderer stays unperturbed). Below, what
# the perturbations look like.

# %% tags=["hide-input"]
shown = truths["AIR"].take(slice(6))
figures.image_rows([("plain renders", renderer.render_batch(*shown)), ("with colour and size perturbations",
                    T.perturbed_images(shown, np.random.default_rng([seed, 11]), cfg.render_size))])
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

# %% tags=["hide-input"]
transfer_record, transfer_tensors = evaluations.load("tabletop-transfer", profile, inputs)
moved = transfer_record["metrics"]                       # network -> seed -> scenes -> {count, identity, position}


def transfer_table(labels):
    """The transfer study's rows for some networks: (network, seed) x (scenes, score)."""
    return pd.DataFrame({(label, int(s)): {(scenes, k): v for scenes, row in by_scenes.items() for k, v in row.items()}
                         for label in labels for s, by_scenes in moved[label].items()}).T.rename_axis(["network", "seed"])


fmt = {c: ("{:.3f}" if c[1] == "position" else "{:.1%}") for c in transfer_table(transfer.PAPER).columns}
NONE = "(no object counted right)"                          # identity and position are scored on scenes counted right
display(transfer_table(transfer.PAPER).style.format(fmt, na_rep=NONE))
plain_net, shaken_net = (moved[label]["0"] for label in transfer.PAPER)
for key, row in (("plain_on_shaken", plain_net["perturbed scenes"]), ("shaken_on_shaken", shaken_net["perturbed scenes"]),
                 ("shaken_on_plain", shaken_net["plain scenes"]), ("plain_on_plain", plain_net["plain scenes"])):
    glue(f"{key}_count", f"{row['count']:.1%}", display=False)
    glue(f"{key}_id", f"{row['identity']:.1%}", display=False)
glue("perturbed_minutes", f"{inputs.record('tabletop-air-perturbed', seed)['wall_time_s'] / 60:.0f}", display=False)
glue("perturbed_verdict", "The perturbed training raises both the count and the identities on perturbed scenes"
     if shaken_net["perturbed scenes"]["count"] > plain_net["perturbed scenes"]["count"]
     and shaken_net["perturbed scenes"]["identity"] > plain_net["perturbed scenes"]["identity"] else
     "The perturbed training does not raise both the count and the identities on perturbed scenes", display=False)

# %% [markdown]
# On perturbed renders of the held-out scenes, the network trained on plain renders counts
# {glue:text}`plain_on_shaken_count` right and names {glue:text}`plain_on_shaken_id` of the objects; the one trained
# with perturbations counts {glue:text}`shaken_on_shaken_count` and names {glue:text}`shaken_on_shaken_id` (on plain
# renders: {glue:text}`shaken_on_plain_count` and {glue:text}`shaken_on_plain_id`; it trained in
# {glue:text}`perturbed_minutes` minutes). {glue:text}`perturbed_verdict`. These are single seeds of a recipe whose
# count varies by about ten points from seed to seed (DAIR's seeds above), so a difference of a few points says
# little. This is robustness to the perturbations the second network saw, not transfer to photographs, which stays
# unmeasured here.

# %% [markdown]
# ## Beyond the paper: learning from the model's own scenes
#
# The cause of the shortfall above is inference, not the model: the true scenes are worth more under it. And the
# model of this chapter is fixed and known, so every scene drawn from Eq. (8) and rendered is an example whose
# description is known, with no supervision beyond the renderer, the paper's own condition. Trained on such
# draws to maximise $\log q(\mathbf{z}\mid\mathbf{x})$ at the true $\mathbf{z}$ (the sleep phase of the wake-sleep
# algorithm, Hinton et al. 1995; Le et al. 2019), the same AIR network needs no render of its guesses and no
# finite differences. Objects are exchangeable, so $q$ scores them in an order it can read from the image: by type
# (cup, pan, plate), objects of one type left to right (`airlib.tabletop_air.descriptions`). The alternative, the
# set likelihood $\log \sum_\pi q(\mathbf{z}^{\pi(1)}, \dots, \mathbf{z}^{\pi(n)} \mid \mathbf{x})$ over the orders
# $\pi$ of the scene's objects, learns identities more slowly (compared below on one seed): with every order allowed,
# each step is pulled towards a mixture of the scene's objects until the network breaks the symmetry by itself,
# and each image costs six passes instead of one. Each network trains for {glue:text}`sleep_steps` steps of
# {glue:text}`batch` fresh scenes; the seeds below played no part in choosing the recipe, which was chosen on
# seed 100 alone.
#
# Plainly, the sleep phase is supervised learning on scenes the model draws itself: each training image comes with
# its description, the same information the "supervised by type" network gets from its labels. Two things differ.
# The network is AIR's, which describes one object per step and decides how many steps to take, where the
# supervised network fills a fixed set of slots; and the targets are the model's own draws in an order read from
# the image (by type, then left to right), not labels attached to the data. It needs the model, not labelled data,
# but it does not invert the renderer on the data as the paper's method does, so it is shown beside the paper's
# recipe, never in its place.

# %% tags=["hide-input"]
sleep_cfg = experiments.config("tabletop-air-sleep-type", profile)[1]
sleep_rows = {data_set: study.seeds_table(inputs.records(name), ()) for data_set, name in study.SLEEP.items()}
sleep_seeds = pd.concat({data_set: pd.DataFrame(rows).T for data_set, rows in sleep_rows.items()},
                        names=["data set", "seed"])
display(sleep_seeds.style.format({"count": "{:.1%}", "identity": "{:.1%}", "position": "{:.3f}", "camera": "{:.2f}",
                                  "minutes": "{:.1f}"}))
sleep = sleep_seeds.loc["types repeat"]
moving_sleep, norep_sleep = sleep_seeds.loc["moving camera"], sleep_seeds.loc["each type once"]

span = claims.span                                        # "lo to hi" over seeds, or the one value


for key, text in {"sleep_steps": f"{sleep_cfg.steps:,}", "sleep_n": f"{len(sleep)}",
                  "sleep_count_range": span(sleep["count"]), "sleep_id_range": span(sleep["identity"]),
                  "sleep_count_98": f"{(sleep['count'] >= 0.98).sum()} of {len(sleep)}",
                  "sleep_pos_mean": f"{sleep['position'].mean():.3f}",
                  "sleep_minutes": span(sleep_seeds["minutes"], "{:.0f}"),
                  "sleep_cam_n": f"{len(moving_sleep)}", "sleep_cam_count_range": span(moving_sleep["count"]),
                  "sleep_cam_deg_range": span(moving_sleep["camera"], "{:.2f}"),
                  "sleep_norep_n": f"{len(norep_sleep)}", "sleep_norep_count_range": span(norep_sleep["count"])}.items():
    glue(key, text, display=False)
step = json.loads((airlib.runs.ROOT / "benchmarks" / "tabletop_step.json").read_text())["recipes"]
paper_step, sleep_step = step["paper's recipe (ELBO), AIR"], step["sleep phase"]
glue("step_frames", f"{sleep_step['frames_per_step']:.0f} frames in {sleep_step['seconds_per_step']:.2f} s against "
     f"{paper_step['frames_per_step']:.0f} frames in {paper_step['seconds_per_step']:.2f} s", display=False)
sleep_checks = study.sleep_targets(sleep_rows, networks["supervised by type"]["position_error"])
display(pd.DataFrame(sleep_checks).T.assign(met=lambda t: t["met"].map({True: "met", False: "MISSED"}))
        .rename_axis("target"))
missed = [f"{k} ({v['result']})" for k, v in sleep_checks.items() if not v["met"]]
glue("sleep_targets_met", f"{len(sleep_checks) - len(missed)} of {len(sleep_checks)}", display=False)
glue("sleep_missed", "Missed: " + "; ".join(missed) + "." if missed else "None is missed.", display=False)

# %% tags=["hide-input"]
orders = pd.DataFrame({order: {int(s): r for s, r in study.seeds_table(inputs.records(name), ()).items()}
                       for order, name in (("in order of type", "tabletop-air-sleep-type"),
                                           ("as a set (every order)", "tabletop-air-sleep"))})
same = orders.dropna().index                                      # the seeds trained both ways
by_order = pd.concat({order: pd.DataFrame(orders.loc[same, order].tolist(), index=same)
                      for order in orders.columns}, names=["q scored", "seed"])[["count", "identity", "position", "minutes"]]
display(by_order.style.format({"count": "{:.1%}", "identity": "{:.1%}", "position": "{:.3f}", "minutes": "{:.1f}"}))
typed, as_set = by_order.loc["in order of type"], by_order.loc["as a set (every order)"]
glue("order_seeds", ", ".join(map(str, same)), display=False)
glue("order_verdict", "the canonical order names the objects better" if (typed["identity"] > as_set["identity"]).all()
     else "the set likelihood names the objects as well or better", display=False)
glue("order_id", f"{span(typed['identity'])} against {span(as_set['identity'])}", display=False)
glue("order_minutes", f"{span(typed['minutes'], '{:.0f}')} minutes against {span(as_set['minutes'], '{:.0f}')}",
     display=False)

# %% [markdown]
# On the same seed ({glue:text}`order_seeds`), trained both ways, {glue:text}`order_verdict`
# ({glue:text}`order_id` of the objects) in {glue:text}`order_minutes`.
#
# With a fixed camera and repeated types, over {glue:text}`sleep_n` seeds the network trained on the model's own
# scenes counts {glue:text}`sleep_count_range` of the held-out scenes right ({glue:text}`sleep_count_98` seeds at
# 98% or more), names {glue:text}`sleep_id_range` of the objects and places them {glue:text}`sleep_pos_mean` table
# widths from the truth on average. With each type once it counts {glue:text}`sleep_norep_count_range` right
# ({glue:text}`sleep_norep_n` seeds); with the moving camera {glue:text}`sleep_cam_count_range`, its camera angle
# off by {glue:text}`sleep_cam_deg_range` degrees on average ({glue:text}`sleep_cam_n` seeds). Each network took
# {glue:text}`sleep_minutes` minutes on one core: a training step renders and learns from {glue:text}`step_frames`
# for a step of the paper's recipe, which renders its guesses and their finite differences
# (`benchmarks/tabletop_step.py`, one core of an idle machine). Of the targets in the second table (what the network must do to
# stand beside the supervised one), {glue:text}`sleep_targets_met` are met. {glue:text}`sleep_missed`
#
# The book's {doc}`try_tabletop` page runs the sleep-trained network (seed 0, fixed and moving camera), exported to
# ONNX, in your browser on a gallery of held-out scenes; in Jupyter, `airlib.try_tabletop.TabletopScene` lets you place
# the objects and the camera yourself while MuJoCo renders the scene and the network describes it.
#
# Side by side on the same held-out scenes (seed 0 of each; the results table above has every score):

# %% tags=["hide-input"]
figures.against_supervised(networks, [
    ("types repeat", "AIR", "supervised", "supervised by type", "sleep phase"),
    ("each type once", "AIR, each type once", "supervised, each type once", "supervised by type, each type once",
     "sleep phase, each type once")],
    who=("AIR, the paper's recipe", "naive supervised", "supervised by type", "AIR, sleep phase (beyond the paper)"))
plt.show()

# %% [markdown]
# The sleep-trained network keeps what the supervised networks lack: it is AIR's network, describing a variable
# number of objects one step at a time in an order it reads from the image, with a proper $q(\mathbf{z}\mid\mathbf{x})$
# (the ELBO and importance weights can use it, as the next section does). It learns from the renderer alone, as the
# paper's method does, but it uses the model's scenes instead of inverting the renderer on the data, which is why it
# goes beyond the paper rather than reproducing it.
#
# ## Data that leave the model: reweighted wake-sleep
#
# The sleep phase never sees the data. Where the data leave the model, as the perturbed renders do, the wake phase
# of reweighted wake-sleep (Le et al. 2019) learns from them without labels: for each image, $K$ descriptions
# $\mathbf{z}_k$ drawn from $q$ (its presence kept between {glue:text}`wake_floor` and
# {glue:text}`wake_floor_hi`, so that a $q$ sure of a wrong count still proposes other counts) are weighted by the
# model, $w_k \propto p(\mathbf{x}\mid\mathbf{z}_k)\,p(\mathbf{z}_k)/q'(\mathbf{z}_k\mid\mathbf{x})$, and $q$ is
# trained towards them, $-\sum_k \bar w_k \log q(\mathbf{z}_k\mid\mathbf{x})$ (`TabletopAIR.wake_loss`:
# {glue:text}`wake_k` renders per image, no finite differences). Three ways to train $q$ on the perturbed data,
# each over the same seeds, scored on the same held-out scenes rendered plainly and with perturbations: the sleep
# phase alone (the networks above), the wake phase alone ({glue:text}`wake_batch` perturbed images per step), and
# both.

# %% tags=["hide-input"]
wake_cfg = experiments.config("tabletop-air-wake-sleep-perturbed", profile)[1]
phases = transfer_table(transfer.PHASES)
display(phases.style.format(fmt, na_rep=NONE))
on_shaken = {label: phases.loc[label]["perturbed scenes"] for label in transfer.PHASES}
both, alone = on_shaken["wake + sleep"], on_shaken["sleep alone"]
above = ((both["count"] > alone["count"]) & (both["identity"] > alone["identity"])).sum()
for key, text in {"wake_floor": f"{wake_cfg.wake_floor:g}", "wake_floor_hi": f"{1 - wake_cfg.wake_floor:g}",
                  "wake_k": f"{wake_cfg.particles}", "wake_batch": f"{wake_cfg.wake_batch}",
                  "transfer_seeds": f"{len(both)}", "both_above": f"{above} of {len(both)}",
                  "both_count": span(both["count"]), "both_id": span(both["identity"]),
                  "sleep_shaken_count": span(alone["count"]), "sleep_shaken_id": span(alone["identity"]),
                  "wake_shaken_count": span(on_shaken["wake alone"]["count"]),
                  "wake_shaken_id": span(on_shaken["wake alone"]["identity"]),
                  "wake_minutes": span(pd.Series([r["wall_time_s"] / 60 for name in transfer.PHASES.values()
                                                  if name != "tabletop-air-sleep-type"
                                                  for r in inputs.records(name).values()]), "{:.0f}")}.items():
    glue(key, text, display=False)
errors = {}                                               # seed 0 of each on the perturbed scenes: which way it miscounts
for label, name in transfer.PHASES.items():
    guess = tabletop_scenes.Scenes(*(transfer_tensors[f"{name}.{k}"].numpy() for k in tabletop_scenes.Scenes._fields))
    errors[label] = study.count_table(truths["AIR"], guess._replace(present=guess.present.astype(bool)))
display(pd.DataFrame({label: {"over-counted": e["over"], "under-counted": e["under"]} for label, e in errors.items()})
        .T.rename_axis("seed 0, perturbed scenes").style.format("{:.1%}"))
for label, key in (("sleep alone", "sleep"), ("wake alone", "wake"), ("wake + sleep", "both")):
    glue(f"{key}_over", f"{errors[label]['over']:.1%}", display=False)
    glue(f"{key}_under", f"{errors[label]['under']:.1%}", display=False)
glue("wake_verdict", "Wake and sleep together beat the sleep phase alone on the perturbed scenes in count and "
     "identity on every seed" if above == len(both) else
     "Wake and sleep together do not beat the sleep phase alone on the perturbed scenes in both count and identity "
     f"on every seed (only on {above} of {len(both)})", display=False)

# %% [markdown]
# On the perturbed scenes, over {glue:text}`transfer_seeds` seeds: the sleep phase alone counts
# {glue:text}`sleep_shaken_count` right and names {glue:text}`sleep_shaken_id` of the objects; the wake phase alone
# {glue:text}`wake_shaken_count` and {glue:text}`wake_shaken_id`; both {glue:text}`both_count` and
# {glue:text}`both_id` (above the sleep phase alone in both scores on {glue:text}`both_above` seeds). The
# wake-phase networks took {glue:text}`wake_minutes` minutes each. {glue:text}`wake_verdict`. Which way the counts
# go wrong (seed 0, the second table): the sleep phase alone over-counts {glue:text}`sleep_over` of the perturbed
# scenes and under-counts {glue:text}`sleep_under`; with the wake phase, {glue:text}`both_over` and
# {glue:text}`both_under`; the wake phase alone {glue:text}`wake_over` and {glue:text}`wake_under`.

# %% [markdown]
# ## How it works: the model and its ELBO
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

# %% tags=["hide-input"]
probes = scores["probes"]
worth = pd.DataFrame({f"sigma_x = {sigma}": by_kind for sigma, by_kind in probes["worth"].items()})
display(worth.style.format("{:.0f}").set_caption("nats an object at its place gains over the empty table (wide level)"))
glue("sigma_x", f"{cfg.sigma_x:g}", display=False)
glue("cup_worth_01", f"{worth.loc['cup', f'sigma_x = {study_cfg.probe_sigma:g}']:.0f}", display=False)
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
# (`tabletop_scenes.overlap_log_prior`). The cell below measures the problem on held-out scenes: the
# log-likelihood of the true scene with one of its objects described a second time, at its own place.

# %% tags=["hide-input"]
dup = probes["duplicate"]
print(f"likelihood lost by describing an object twice: max {dup['max_gap']:.3f} nats over {dup['scenes']} scenes; "
      f"the overlap term charges {dup['penalty_min']:.0f}-{dup['penalty_max']:.0f} nats")
glue("dup_gap", f"{dup['max_gap']:.3f}", display=False)
glue("dup_pen_min", f"{dup['penalty_min']:.0f}", display=False)

# %% [markdown]
# Describing an object twice costs at most {glue:text}`dup_gap` nats of likelihood; the overlap
# term charges at least {glue:text}`dup_pen_min`.
#
# One part of training needed care too. AIR's later steps learn where a second or third object is only
# when q lets them describe one: a step that q has switched off gets no gradient for its position, so
# it never finds the second object, and stays off: without help, q's second step can switch itself off on
# two-object scenes within 1,000 steps, and every scene of two or three objects is then read as one.
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
print(inspect.getsource(tabletop_scenes.overlap_log_prior))
print(inspect.getsource(tabletop_air.TabletopAIR.loss))

# %% [markdown]
# ## How it works: rendering is the cost
#
# A training step renders each image's inferred scene once, and once more per pose coordinate of
# every present object (and for the camera) for the finite differences. The cell counts the renders
# of one training step; the renderer's speed with all nine meshes loaded is in
# `benchmarks/tabletop_render.json`.

# %% tags=["hide-input"]
fps = json.loads((airlib.runs.ROOT / "benchmarks" / "tabletop_render.json").read_text())["median_fps"]
per_step = scores["renders_per_step"]
print(f"one step of batch {cfg.batch} (moving camera, a fresh network): {per_step} renders; "
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
#   renders (one seed each); transfer to photographs is not reproduced (no suitable photograph can be installed here).
# * {glue:text}`targets_met` of the measurable targets under "Results on held-out scenes" hold, and
#   {glue:text}`claims_reproduced` of the paper's claims this chapter judges are reproduced (the table at the top).
# * Beyond the paper: the same network trained on scenes drawn from the model itself (the sleep phase, objects in
#   an order by type) counts {glue:text}`sleep_count_range` of the held-out scenes right over {glue:text}`sleep_n`
#   seeds ({glue:text}`sleep_norep_count_range` with each type once, {glue:text}`sleep_cam_count_range` with the
#   moving camera), with no render of its guesses and no finite differences, in {glue:text}`sleep_minutes` minutes
#   a network. On perturbed scenes, adding the wake phase on the perturbed data gives {glue:text}`both_count`
#   against {glue:text}`sleep_shaken_count` for the sleep phase alone.
#
# ```{admonition} What we tried, and what is left
# :class: dropdown
# Each change below was made after a run that showed its cause, and each is now part of the recipe
# (their numbers are in the repository's `notes/tabletop-recipe.md`): the overlap term (counts drifted
# to three), the wide likelihood alone (chapter 5's narrow level, added after 1,000 steps, collapsed the
# counts), the presence floor (later steps switched themselves off), $\sigma_x = 0.05$ (lone cups went
# uncounted) and the what warm-up (plates and pans were named cups). Each was judged on one seed over at
# most a few thousand steps, not over ten seeds, and none brought the count near the paper's. DAIR and its
# lower rate at the end were chosen the same way, on one seed, seed 0 (the section "DAIR over seeds" reports the
# recipe over seeds). Tried and dropped (the same notes have the numbers): holding the presence floor to the
# end of training, and, with
# DAIR, a narrower likelihood level (8 px) whether ramped in, alone, or for the poses' gradient only: each
# sharper likelihood made the networks undercount. Longer
# training: the AIR networks were first trained for 6,000 steps and then continued to {glue:text}`steps`
# (`airlib.train` continues a finished run of an experiment whose schedule does not read the number of
# steps, bit for bit a run started with the larger number; the records list it under `extended`); the
# training curves show what the extra steps did. DAIR's seed-0 network (fixed camera) was trained for {glue:text}`steps` steps with
# AIR's recipe and continued the same way with the lower rate (a schedule that changes only at steps the
# checkpoint has not trained also continues bit for bit). Not in the recipe: an intermediate blur between the wide and
# the narrow level, a larger inference network; several samples per image for the score function (with a
# leave-one-out baseline) was tried once, on one seed, without a gain clear enough to retrain every network.
# ```
