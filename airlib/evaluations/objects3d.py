"""Chapter 5's comparison (Sec. III-A) as a recorded study: ``3d-results``, and what the chapter reads from it.

The study scores the AIR and supervised 3D networks and direct optimisation of the ELBO (:mod:`airlib.direct`)
on the held-out scenes of one object, and keeps the inferences as tensors for the chapter's figures. Below it,
the functions that turn its record, its tensors and the training records into the chapter's tables and
verdicts, and the chapter's probes of the likelihood (the basin over the table, the nats an angle error costs,
the angle check), cheap enough to compute whenever the chapter runs, so they are not part of the record.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .. import direct, scene3d
from ..profiles import select
from ..render import OBJECTS, SYMMETRY, sample_scenes
from ..render.likelihood import pyramid_log_likelihood
from ..spread import beyond_noise, mean_se
from . import Evaluation, Inputs, Need, register

METHODS = ("air", "supervised")
LABELS = {"air": "AIR", "supervised": "supervised"}          # method -> the chapter's label
CHANCE_DEG = {obj: math.degrees(SYMMETRY[obj]) / 4 for obj in ("cube", "cylinder")}   # a random angle's mean error
TARGETS_DEG = {"cube": 5, "cylinder": 10}                     # the angle targets of this project
COARSE, FINE = dict(scene3d.STAGES)["coarse"], dict(scene3d.STAGES)["fine"]


def compute(inputs: Inputs, profile: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """Scores the networks and direct optimisation: metrics per method, inferences as tensors."""
    nets = {m: inputs.model(f"3d-{m}") for m in METHODS}
    results = direct.evaluate(nets, scene3d.config(profile))
    stability = results.pop("stability")
    per_restart = {k: stability.pop(k) for k in ("identity", "position_error", "rotation_error_deg")}
    inferred = {name: r.pop("inferred") for name, r in results.items()}
    traces = results["direct"].pop("traces")
    results["direct"]["stability"] = stability
    tensors = {f"inferred.{n}.identity": i.clone() for n, (i, _) in inferred.items()}   # every scene's inference
    tensors |= {f"inferred.{n}.pose": p.half().clone() for n, (_, p) in inferred.items()}
    tensors["direct_traces"] = traces.float()
    tensors |= {f"stability.{k}": v.float() for k, v in per_restart.items()}
    return results, tensors


def figures(tensors: dict[str, torch.Tensor]) -> dict:
    """The study's tensors as the chapter's figures read them: ``{"inferred": {method: (identity, pose)},
    "direct_traces": (scenes, steps), "stability": {...}}``."""
    methods = sorted({k.split(".")[1] for k in tensors if k.startswith("inferred.")})
    return {"inferred": {m: (tensors[f"inferred.{m}.identity"], tensors[f"inferred.{m}.pose"]) for m in methods},
            "direct_traces": tensors["direct_traces"],
            "stability": {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith("stability.")}}


def _data(profile: str) -> dict[str, torch.Tensor]:
    from ..experiments import get
    return get("3d-air").data(profile)


RESULTS = register(Evaluation("3d-results", "chapter 5: the 3D networks and direct optimisation on held-out scenes",
                              tuple(Need(f"3d-{m}") for m in METHODS), scene3d.config, _data, compute))


def held_out(profile: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The scenes the study scores: identity (n,) and pose (n, 3), as the experiments define them."""
    data = _data(profile)
    return data["test_identity"], data["test_pose"]


# --- the study's metrics as the chapter's tables -------------------------------------------------------------

FORMATS = {"scenes": "{:.0f}", "identity accuracy": "{:.1%}", "position error": "{:.2%}",
           "cube rotation (deg)": "{:.1f}", "cylinder rotation (deg)": "{:.1f}",
           "reconstruction MSE": "{:.5f}", "s / image": "{:.1e}", "minutes of training": "{:.1f}"}


def rotation_deg(metrics: dict, obj: str) -> float:
    """Rotation error in degrees of one type (NaN where no scene of it was typed right)."""
    v = metrics["per_type"][obj]["rotation_error_deg"]
    return float("nan") if v is None else v


def _row(r: dict) -> dict:
    return {"scenes": r["scenes"], "identity accuracy": r["identity_accuracy"], "position error": r["position_error"],
            "cube rotation (deg)": rotation_deg(r, "cube"), "cylinder rotation (deg)": rotation_deg(r, "cylinder"),
            "reconstruction MSE": r["reconstruction_mse"], "s / image": r["seconds_per_image"]}


def comparison_table(metrics: dict, minutes: dict[str, float]) -> pd.DataFrame:
    """The three methods on all held-out scenes, and the networks on direct optimisation's subset (``*``), as
    formatted text ("-" where a number does not apply). ``minutes``: each network's training time."""
    air, sup = metrics["air"], metrics["supervised"]
    columns = {"AIR": _row(air), "supervised": _row(sup), "direct opt.": _row(metrics["direct"]),
               "AIR *": _row(air["subset"]), "supervised *": _row(sup["subset"])}
    for m in ("AIR *", "supervised *"):
        columns[m]["s / image"] = None                          # timed over all scenes only
    for m in METHODS:
        columns[LABELS[m]]["minutes of training"] = minutes[m]
    return pd.DataFrame({m: {k: "-" if k not in c or c[k] is None or c[k] != c[k] else f.format(c[k])
                             for k, f in FORMATS.items()} for m, c in columns.items()})


def angle_state(metrics: dict, obj: str) -> str:
    """'learned' within the target, 'chance' within a fifth of chance's error, else 'partly'."""
    e = rotation_deg(metrics, obj)
    return "learned" if e <= TARGETS_DEG[obj] else ("chance" if e >= 0.8 * CHANCE_DEG[obj] else "partly")


def claims(metrics: dict, seeds: pd.DataFrame, plain: dict | None = None) -> pd.DataFrame:
    """The paper's claims made measurable, the number that tests each, and whether it holds. (Training time is a
    cost, shown in :func:`comparison_table` and the seeds table, not a claim.)

    Args:
        metrics: the study's metrics; seeds: :func:`seed_table` of AIR's seeds.
        plain: :func:`pair_summary` of the identical networks (both reading the angle on the circle of theta);
            when given, the supervised network's difficulty with the cube is judged on it, over seeds.
    """
    air, sup, dopt = metrics["air"], metrics["supervised"], metrics["direct"]
    rot, stab, air_sub = rotation_deg, dopt["stability"], air["subset"]
    on_target = int(on_targets(seeds).sum())
    rows = [
        ("AIR infers identity: accuracy >= 98%", f"{air['identity_accuracy']:.1%}", air["identity_accuracy"] >= 0.98),
        ("AIR infers position: error <= 5% of the table", f"{air['position_error']:.2%}",
         air["position_error"] <= 0.05),
        ("AIR infers the cube's angle: error <= 5 deg", f"{rot(air, 'cube'):.1f} deg", rot(air, "cube") <= 5),
        ("AIR infers the cylinder's angle: error <= 10 deg", f"{rot(air, 'cylinder'):.1f} deg",
         rot(air, "cylinder") <= 10),
        ("AIR reconstructs no worse than the supervised network",
         f"MSE {air['reconstruction_mse']:.5f} vs {sup['reconstruction_mse']:.5f}",
         air["reconstruction_mse"] <= sup["reconstruction_mse"]),
        ("supervised: much more difficulty with the cube's angle than AIR (at least twice AIR's error)",
         f"{rot(sup, 'cube'):.1f} vs {rot(air, 'cube'):.1f} deg", rot(sup, "cube") >= 2 * rot(air, "cube"))
        if not plain else
        ("supervised: much more difficulty with the cube's angle than AIR, identical networks (at least twice AIR's "
         "error, beyond two standard errors)",
         f"{plain['supervised']['mean']:.1f} vs {plain['air']['mean']:.1f} deg (means over "
         f"{len(plain['supervised']['errors'])} and {len(plain['air']['errors'])} seeds)", plain["harder"]),
        ("supervised: the difficulty is the cube's (its cylinder error, relative to chance, is lower)",
         f"cube {rot(sup, 'cube') / CHANCE_DEG['cube']:.0%} of chance, cylinder "
         f"{rot(sup, 'cylinder') / CHANCE_DEG['cylinder']:.0%}",
         rot(sup, "cube") / CHANCE_DEG["cube"] > rot(sup, "cylinder") / CHANCE_DEG["cylinder"]),
        ("direct optimisation is slower (at least 100x)",
         f"{dopt['seconds_per_image'] / air['seconds_per_image']:,.0f}x",
         dopt["seconds_per_image"] >= 100 * air["seconds_per_image"]),
        ("direct optimisation is less stable (restarts end apart on some scenes; AIR is deterministic)",
         f"{stab['disagree']:.0%} of scenes", stab["disagree"] > 0),
        ("direct optimisation is more susceptible to local minima (worse than AIR in type or angle, same scenes)",
         f"type {dopt['identity_accuracy']:.1%} vs {air_sub['identity_accuracy']:.1%}; cylinder "
         f"{rot(dopt, 'cylinder'):.1f} vs {rot(air_sub, 'cylinder'):.1f} deg",
         dopt["identity_accuracy"] < air_sub["identity_accuracy"] or rot(dopt, "cylinder") > rot(air_sub, "cylinder")
         or rot(dopt, "cube") > rot(air_sub, "cube")),
        ("AIR's recipe reaches both angle targets in every trained seed (the seeds table)",
         f"{on_target} of {len(seeds)} seeds", on_target == len(seeds)),
    ]
    return pd.DataFrame(rows, columns=["the paper's claim, made measurable", "measured", "holds"]).set_index(
        "the paper's claim, made measurable")


# --- the matched pairs: identical networks, from the training records ----------------------------------------

# pair -> (AIR's experiment, the supervised network's): "plain" reads the angle on the circle of theta (the
# supervised network's head; the paper's identical networks), "symmetric" on the circle of m theta (AIR's head)
PAIRS = {"plain": ("3d-air-plain", "3d-supervised"), "symmetric": ("3d-air", "3d-supervised-symmetric")}
PAIR_LABELS = {"plain": "angle on the circle of theta (the paper's comparison)",
               "symmetric": "angle on the circle of m theta"}


def cube_errors(records: dict[int, dict]) -> dict[int, float]:
    """Each seed's mean cube angle error in degrees on the held-out scenes (seed -> record)."""
    return {s: float(r["metrics"]["per_type"]["cube"]["rotation_error_deg"]) for s, r in sorted(records.items())}


def pair_summary(air: dict[int, dict], supervised: dict[int, dict]) -> dict:
    """One matched pair's cube angle errors over seeds: per network the seeds' errors, their mean and standard
    error; whether the supervised network's mean is above AIR's beyond noise (:func:`airlib.spread.beyond_noise`:
    ``worse``) and, besides, at least twice it (``harder``). Empty when either network has no seed."""
    errors = {"air": cube_errors(air), "supervised": cube_errors(supervised)}
    if not all(errors.values()):
        return {}
    out = {m: dict(zip(("mean", "se"), mean_se(list(e.values()))), errors=e) for m, e in errors.items()}
    a, b = errors["air"].values(), errors["supervised"].values()
    out["worse"] = beyond_noise(list(b), list(a))           # the supervised network's error above AIR's
    out["harder"] = out["supervised"]["mean"] >= 2 * out["air"]["mean"] and out["worse"]
    return out


def pair_table(summaries: dict[str, dict]) -> pd.DataFrame:
    """The matched pairs side by side: per pair and network, the seeds, the cube angle error (mean ± standard
    error over seeds, degrees) and each seed's error."""
    rows = []
    for pair, summary in summaries.items():
        for method in METHODS:
            if method in summary:
                m = summary[method]
                rows.append({"networks' head": PAIR_LABELS[pair], "network": LABELS[method],
                             "seeds": len(m["errors"]), "cube angle error (deg)": f"{m['mean']:.1f} ± {m['se']:.1f}",
                             "per seed (deg)": ", ".join(f"{e:.1f}" for e in m["errors"].values())})
    return pd.DataFrame(rows).set_index(["networks' head", "network"])


# --- AIR's recipe over seeds, from the training records ------------------------------------------------------

def seed_table(records: dict[int, dict]) -> pd.DataFrame:
    """Each seed's final scores on the held-out scenes and its training time (seed -> record)."""
    rows = pd.DataFrame({s: {"identity accuracy": r["metrics"]["identity_accuracy"],
                             "position error": r["metrics"]["position_error"],
                             "cube rotation (deg)": r["metrics"]["per_type"]["cube"]["rotation_error_deg"],
                             "cylinder rotation (deg)": r["metrics"]["per_type"]["cylinder"]["rotation_error_deg"],
                             "reconstruction MSE": r["metrics"]["reconstruction_mse"],
                             "minutes of training": r["wall_time_s"] / 60} for s, r in sorted(records.items())}).T
    rows.index.name = "seed"
    return rows


def on_targets(seeds: pd.DataFrame) -> pd.Series:
    """Whether each seed of :func:`seed_table` reaches both angle targets."""
    return ((seeds["cube rotation (deg)"] <= TARGETS_DEG["cube"])
            & (seeds["cylinder rotation (deg)"] <= TARGETS_DEG["cylinder"]))


def angle_checks(record: dict) -> list[dict]:
    """The training checks (100 held-out scenes) that measured the angle error, in order."""
    return [r for r in record["history"] if r.get("rotation_error_deg") is not None]


def check_near(record: dict, step: int) -> dict:
    """The angle-measuring training check nearest to ``step``."""
    return min(angle_checks(record), key=lambda r: abs(r["step"] - step))


def end_trend(record: dict, window: int = 500, by: float = 2.0) -> tuple[dict, bool]:
    """The check ``window`` steps before the last, and whether the angle error fell by more than ``by`` degrees
    since then (still falling when training ended)."""
    last = angle_checks(record)[-1]
    before = check_near(record, last["step"] - window)
    return before, last["rotation_error_deg"] < before["rotation_error_deg"] - by


def identity_dips(records: dict[int, dict], after: int = 1500, below: float = 0.98) -> dict:
    """How often the training checks' identity accuracy fell below ``below`` from step ``after`` on (after the
    type head's first steps).

    Returns:
        ``after``, ``below``, ``checks`` (all such checks), ``seeds``, ``dips`` [(accuracy, seed, step)] below it,
        ``seeds_dipping``, and, when there are dips, ``lowest`` (accuracy, seed, step) and ``longest`` (most dips in a row).
    """
    checks = {s: [(r["step"], r["identity_accuracy"]) for r in rec["history"]
                  if r["step"] >= after and r.get("identity_accuracy") is not None] for s, rec in records.items()}
    dips = [(acc, s, step) for s, c in checks.items() for step, acc in c if acc < below]
    out = dict(after=after, below=below, checks=sum(map(len, checks.values())), seeds=len(checks), dips=dips,
               seeds_dipping=len({s for _, s, _ in dips}))
    if dips:
        longest = 0
        for c in checks.values():
            run = 0
            for _, acc in c:
                run = run + 1 if acc < below else 0
                longest = max(longest, run)
        out.update(lowest=min(dips), longest=longest)
    return out


# --- the inferences of the study, for the figures ------------------------------------------------------------

def fig8_scenes(identity: torch.Tensor, first: int, per_type: dict[str, int]) -> torch.Tensor:
    """Indices (k,) of the first ``per_type[name]`` scenes of each type among the first ``first`` scenes."""
    chosen = [i for name, k in per_type.items()
              for i in (identity[:first] == OBJECTS.index(name)).nonzero()[:k, 0].tolist()]
    return torch.tensor(chosen, dtype=torch.long)


def rerendered(renderer, inferred: dict, identity: torch.Tensor, pose: torch.Tensor, sel: torch.Tensor) -> list:
    """The data and each method's inference of the scenes ``sel``, re-rendered (Fig. 8).

    Returns:
        Rows ``(label, identity (k,), images (k, 3, H, W), rotation error (k,) in degrees)``, the data first.
    """
    rows = [("(a) data", identity[sel], pose[sel])]
    for name, label in (("air", "(b) AIR"), ("supervised", "(c) supervised"), ("direct", "(d) direct opt.")):
        gi, gp = inferred["inferred"][name]
        rows.append((label, gi[sel], gp[sel].float()))
    return [(label, gi, renderer.render_batch(gi, gp, check=False),
             torch.rad2deg(scene3d.rotation_error(identity[sel], pose[sel, 2], gp[:, 2]))) for label, gi, gp in rows]


def cube_angles(inferred: dict, identity: torch.Tensor, pose: torch.Tensor) -> dict:
    """Every held-out cube's true and predicted angle, by network, and how they relate to the four labels.

    Returns:
        ``true_deg`` (C,); ``modes_mean`` (C,): the mean, on the line, of the four labels a quarter turn apart in
        [-180, 180); per label (AIR, supervised): ``pred`` (C,) degrees, ``error`` (C,) the signed error modulo
        90 degrees, ``summary`` (shares within 5 degrees of a true mode, of the labels' mean, 45 degrees off) and
        ``circular`` (the predicted angles' circular mean and standard deviation, degrees).
    """
    cubes = (identity == OBJECTS.index("cube")).nonzero()[:, 0]
    true_deg = torch.rad2deg(pose[cubes, 2]).numpy()
    modes_mean = (true_deg + 180) % 90 - 45
    out = dict(true_deg=true_deg, modes_mean=modes_mean, pred={}, error={}, summary={}, circular={})
    for name, label in LABELS.items():
        pred = torch.rad2deg(scene3d.wrap_angle(inferred["inferred"][name][1][cubes, 2].float())).numpy()
        mod = ((pred - true_deg + 45) % 90) - 45
        out["pred"][label], out["error"][label] = pred, mod
        out["summary"][label] = {"within 5 deg of a true mode": np.mean(np.abs(mod) <= 5),
                                 "within 5 deg of the 4 labels' mean":
                                     np.mean(np.abs(((pred - modes_mean + 180) % 360) - 180) <= 5),
                                 "45 +- 5 deg off (mod 90)": np.mean(np.abs(np.abs(mod) - 45) <= 5)}
        z = np.exp(1j * np.radians(pred)).mean()
        out["circular"][label] = (np.degrees(np.angle(z)), np.degrees(np.sqrt(-2 * np.log(abs(z)))))
    return out


# --- the chapter's probes, computed when it runs ------------------------------------------------------------

@dataclass(frozen=True)
class ProbeConfig:
    """The sizes of the chapter's probes of the likelihood and of AIR's network."""
    basin_points: int = 15               # guesses per side of the likelihood's map over the table
    drop_poses: int = 8                  # random poses per object of the angle-drop curves
    angle_check_scenes: int = 300        # first held-out scenes of the angle check
    fig8_per_type: tuple = (("cube", 3), ("cylinder", 3), ("sphere", 2))   # scenes of each type in Fig. 8


PROBES = {"smoke": ProbeConfig(basin_points=6, drop_poses=2,
                               fig8_per_type=(("cube", 1), ("cylinder", 1), ("sphere", 1))),
          "paper": ProbeConfig()}
ANGLES_DEG = np.array([0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 150, 180])
BASIN_LEVELS = ((f"wide level ({COARSE[0][0]:g} px)", COARSE), (f"narrow level ({FINE[-1][0]:g} px)", FINE[-1:]),
                ("pyramid (both)", FINE))
DROP_LEVELS = (("wide only", COARSE), ("pyramid", FINE))


def probe_config(profile: str) -> ProbeConfig:
    return select(PROBES, profile)


def likelihood_basin(renderer, cfg: scene3d.Objects3DConfig, truth: tuple, points: int, half: float = 0.35) -> dict:
    """log p(x | a cube at each point of a grid over the table) - its max, when x shows a cube at ``truth``
    (x, y, theta), under the wide level, the narrow level and the pyramid.

    Returns:
        level -> (points, points) map, rows from the far edge (+y) down, columns from -x.
    """
    x_obs = renderer.render_batch([0], torch.tensor([truth]))
    grid = np.linspace(-half, half, points)
    guesses = torch.tensor([[a, b, truth[2]] for b in grid[::-1] for a in grid])      # (points^2, 3)
    y = renderer.render_batch([0] * len(guesses), guesses)
    out = {}
    for name, levels in BASIN_LEVELS:
        ll = pyramid_log_likelihood(x_obs.expand(len(guesses), -1, -1, -1), y, cfg.sigma_x, levels)
        out[name] = (ll - ll.max()).view(points, points)
    return out


def angle_drops(renderer, cfg: scene3d.Objects3DConfig, poses: int, rng: np.random.Generator,
                angles=ANGLES_DEG) -> dict[tuple[str, str], np.ndarray]:
    """Nats the log-likelihood loses when the object is turned by each of ``angles`` degrees away from the observed
    angle, averaged over ``poses`` random poses, for the cube and the cylinder under the wide level alone and the
    pyramid: ``(object, "wide only" | "pyramid") -> (angles,)``."""
    drops = {}
    for ident in (OBJECTS.index("cube"), OBJECTS.index("cylinder")):
        _, bases = sample_scenes(poses, scene3d.SPEC, rng)
        for base in bases:
            x_rot = renderer.render_batch([ident], base[None])
            turned = np.repeat(base[None], len(angles), 0)
            turned[:, 2] += np.radians(angles).astype(np.float32)
            y_rot = renderer.render_batch([ident] * len(angles), turned)
            for name, levels in DROP_LEVELS:
                same = pyramid_log_likelihood(x_rot, x_rot, cfg.sigma_x, levels)
                off = pyramid_log_likelihood(x_rot.expand(len(angles), -1, -1, -1), y_rot, cfg.sigma_x, levels)
                drops.setdefault((OBJECTS[ident], name), []).append((same - off).numpy())
    return {k: np.mean(v, 0) for k, v in drops.items()}


GRADIENT_FORMATS = {"eps theta (rad)": "{:g}", "rel. error x, y": "{:.2f}", "sign x, y": "{:.2f}",
                    "rel. error theta": "{:.2f}", "sign theta": "{:.2f}"}


def gradient_table(bench: dict, scheme: str = "forward") -> pd.DataFrame:
    """The renderer benchmark's finite-difference gradients against the supersampled reference
    (``benchmarks/render_results.json``), one row per stage and epsilon of ``scheme``."""
    rows = [{"stage": f"{stage['stage']}: " + " + ".join(f"{b:g} px" for b, _ in stage["levels"]),
             "eps x, y (m)": r["eps_xy"], "eps theta (rad)": r["eps_theta"], "scheme": r["scheme"],
             "rel. error x, y": r["median_rel_error_xy"], "sign x, y": r["sign_agreement_xy"],
             "rel. error theta": r["median_rel_error_theta"], "sign theta": r["sign_agreement_theta"]}
            for stage in bench["informativeness"] for r in stage["rows"]]
    table = pd.DataFrame(rows)
    return table[table.scheme == scheme].drop(columns="scheme").set_index(["stage", "eps x, y (m)"])


def angle_check(net, cfg: scene3d.Objects3DConfig, identity: torch.Tensor, pose: torch.Tensor, renderer,
                scenes: int = 300) -> dict:
    """Is the angle missing from the likelihood or from the network? On the first ``scenes`` held-out scenes,
    the true type and position with AIR's angle against the truth, under the whole pyramid (the angle's prior
    is uniform, so the joint differs by the likelihood alone).

    Returns:
        ``scenes``; ``missed``: how many angles are more than 5 degrees off; over those, ``truth_wins`` (share
        where the likelihood prefers the true angle) and ``median_gain`` (nats), None when none is missed.
    """
    n = min(scenes, len(identity))
    ident, truth = identity[:n], pose[:n]
    x = renderer.render_batch(ident, truth)
    _, guess = scene3d.infer_network(net, x, cfg.input_size)
    turned = truth.clone()
    turned[:, 2] = guess[:, 2]                                                  # true type and position, AIR's angle
    gain = (scene3d.log_likelihood(cfg, x, x)
            - scene3d.log_likelihood(cfg, x, renderer.render_batch(ident, turned))).numpy()      # (n,) nats
    err = torch.rad2deg(scene3d.rotation_error(ident, truth[:, 2], guess[:, 2])).numpy()
    missed = np.nan_to_num(err) > 5
    if not missed.any():
        return dict(scenes=n, missed=0, truth_wins=None, median_gain=None)
    return dict(scenes=n, missed=int(missed.sum()), truth_wins=(gain[missed] > 0).mean(),
                median_gain=np.median(gain[missed]))
