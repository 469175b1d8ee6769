"""Figures of chapter 1 (the ELBO's estimators on the exact toy, :mod:`airlib.toy`), drawn from the recorded
study ``toy-estimators`` (:mod:`airlib.evaluations.toy`): the model, the posterior gaps, the unbiasedness
checks, the variances, training with each estimator, the learned posterior and the Occam sweep.

Each function returns the Figure.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from .. import toy

COUNT_COLOURS = sns.color_palette("viridis", 4)      # n = 0..3
COLOURS = dict(zip(toy.ESTIMATORS + ("nvil, scaled", "exact"), sns.color_palette("colorblind", 8)))
LABELS = {"reinforce": "score function, Eq. (7)", "local": "+ per-step signal",
          "baseline": "+ learned baseline", "nvil": "NVIL: + running centring",
          "nvil, scaled": "NVIL: + running scaling", "vimco": "VIMCO",
          "relaxed": "Concrete relaxation", "exact": "exact gradient"}


def model(scene: toy.Scene, x: torch.Tensor, grid: torch.Tensor) -> plt.Figure:
    """Eq. (1) of the toy over ``grid`` (G,): each count's bump p_N(n) p(x | n), their sum p(x) and the data
    x (M,) (left); the exact posterior p(n | x), stacked (right)."""
    joint = (scene.prior_n().log() + scene.log_lik_n(grid)).exp()  # (G, N + 1) p(n) p(x | n)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12.5, 4.2), constrained_layout=True)
    for n in range(scene.N + 1):
        ax1.plot(grid, joint[:, n], color=COUNT_COLOURS[n], lw=2, label=f"$p_N({n})\\,p(x \\mid n={n})$")
    ax1.plot(grid, joint.sum(1), "k--", lw=1.5, label="$p(x)$, Eq. (1)")
    ax1.plot(x, np.full(len(x), -0.01), "|", color="k", ms=12, label="the data")
    ax1.set(xlabel="pixel brightness $x$", ylabel="density", title="The model: one Gaussian bump per count")
    ax1.legend(fontsize=9)
    ax2.stackplot(grid, scene.posterior_n(grid).T, colors=COUNT_COLOURS,
                  labels=[f"$n = {n}$" for n in range(scene.N + 1)], alpha=0.9)
    ax2.set(xlabel="pixel brightness $x$", ylabel="$p(n \\mid x)$", xlim=(float(grid[0]), float(grid[-1])), ylim=(0, 1),
            title="The exact posterior over the number of objects")
    ax2.legend(loc="center right", fontsize=9)
    return fig


def posterior_gaps(x: torch.Tensor, n: torch.Tensor, residual: torch.Tensor, blind: torch.Tensor) -> plt.Figure:
    """log p(x) - ELBO at each pixel x (M,) of true count n (M,), for the network whose steps see the residual
    (circles) and the blind one (crosses), on a log scale."""
    fig, ax = plt.subplots(figsize=(8, 3.8), constrained_layout=True)
    for k in range(len(COUNT_COLOURS)):
        sel = n == k
        ax.scatter(x[sel], blind[sel], marker="x", s=50, color=COUNT_COLOURS[k],
                   label=f"steps see only $x$ (true $n={k}$)")
        ax.scatter(x[sel], residual[sel], marker="o", s=40, color=COUNT_COLOURS[k],
                   label=f"steps see the residual $r^i$ (true $n={k}$)")
    ax.set(xlabel="pixel brightness $x$", ylabel="$\\log p(x) - \\mathcal{L}$ (nats)", yscale="log",
           title="What is left of the posterior gap at the best parameters of each network")
    ax.legend(fontsize=8, ncol=2)
    return fig


def unbiasedness(checks: dict[str, tuple], repeats: int, k: int) -> plt.Figure:
    """Each estimator's Monte Carlo mean against the exact gradient, coordinate by coordinate with 95%
    intervals, one panel per estimator (at most 7), and every coordinate's z in a last panel.

    Args:
        checks: name -> (exact, mean, se, z), each (P,) (z over the coordinates with nonzero variance).
        repeats: estimates per check; k: VIMCO's K (both for the title).
    """
    names = list(checks)
    fig, axes = plt.subplots(2, 4, figsize=(12, 7), constrained_layout=True)
    for ax, name in zip(axes.flat, names):
        exact, mean, se, _ = checks[name]
        lo, hi = float(exact.min()), float(exact.max())
        ax.plot([lo, hi], [lo, hi], color="0.6", lw=1, zorder=0, label="MC mean = exact")
        ax.errorbar(exact, mean, yerr=1.96 * se, fmt="o", ms=4, color=COLOURS[name], label="MC mean, 95% CI")
        ax.set(title=LABELS[name], xlabel="exact gradient coordinate", ylabel="Monte Carlo mean")
    ax = axes.flat[len(names)]
    for i, name in enumerate(names):
        z = checks[name][3].numpy()
        ax.scatter(np.full(len(z), i) + np.linspace(-0.25, 0.25, len(z)), z, s=14, color=COLOURS[name])
    ax.axhspan(-1.96, 1.96, color="0.85", zorder=0, label="$|z| < 1.96$")
    ax.set_yscale("symlog", linthresh=2, linscale=1.5)
    ticks = [-100, -10, -2, 0, 2, 10, 100]
    ax.set_yticks(ticks, [str(t) for t in ticks])
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=9)
    ax.set(ylabel="$z$ = (MC mean $-$ exact) / s.e.", title="All 18 coordinates, in standard errors")
    handles = axes.flat[0].get_legend_handles_labels()[0] + ax.get_legend_handles_labels()[0]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=9)     # one key, off every panel
    fig.suptitle(f"Monte Carlo means of {repeats} single-sample estimates against the exact gradient\n"
                 f"(VIMCO, K = {k}: against the exact gradient of $\\mathcal{{L}}_K$, collapsed toy)")
    return fig


def variances(variance: pd.DataFrame, names, sample_sizes) -> plt.Figure:
    """Total variance of each estimator's gradient estimate against the samples per pixel, at the start
    (left) and at the best parameters (right); ``variance`` has columns point, estimator, samples and
    "total variance"."""
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.6), constrained_layout=True, sharey=True)
    for ax, point, title in zip(axes, ("start", "best"), ("at the starting parameters",
                                                          "at the best parameters of the family")):
        for name in names:
            d = variance[(variance.point == point) & (variance.estimator == name)]
            ax.plot(d.samples, d["total variance"], "o-" if name != "nvil, scaled" else "o--",
                    color=COLOURS[name], lw=2, label=LABELS[name])
        ax.set(xscale="log", yscale="log", xlabel="posterior samples per pixel (VIMCO: K)", title=title)
        ax.set_xticks(sample_sizes, [str(s) for s in sample_sizes])
    axes[0].set_ylabel("total variance of the gradient estimate")
    axes[0].legend(fontsize=9)
    return fig


def training(curves: dict[str, tuple], log_px: float, best_gap: float) -> plt.Figure:
    """The exact ELBO's gap to log p(x) (left) and the counts' KL (right) during training with each estimator.

    Args:
        curves: name -> (steps, elbo, count KL), each (T,).
        log_px: the mean log p(x) over the data; best_gap: the exact-gradient fit's gap (a dashed line).
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12.5, 4.4), constrained_layout=True)
    for name, (steps, elbo, kl) in curves.items():
        ax1.plot(steps, log_px - np.asarray(elbo, dtype=float), color=COLOURS[name], lw=2, label=LABELS[name])
        ax2.plot(steps, kl, color=COLOURS[name], lw=2, label=LABELS[name])
    ax1.axhline(best_gap, color="k", ls="--", lw=1.5, label="exact-gradient fit (Sec. 1.2)")
    ax1.set(yscale="log", xlabel="Adam step", ylabel="$\\log p(x) - \\mathcal{L}$ (nats, mean over data)",
            title="Exact ELBO gap during training")
    ax2.set(yscale="log", xlabel="Adam step", ylabel="KL$[q(n \\mid x) \\,\\|\\, p(n \\mid x)]$ (nats)",
            title="Error of the inferred number of objects")
    ax1.legend(fontsize=9)
    return fig


def learned_posterior(scene: toy.Scene, grid: torch.Tensor, q: torch.Tensor, x: torch.Tensor) -> plt.Figure:
    """The exact p(n | x) (solid) against a learned q(n | x) (dashed), both (G, N + 1) over ``grid`` (G,), and
    the training pixels x (M,)."""
    fig, ax = plt.subplots(figsize=(10, 4.2), constrained_layout=True)
    p = scene.posterior_n(grid)
    for n in range(scene.N + 1):
        ax.plot(grid, p[:, n], color=COUNT_COLOURS[n], lw=2.5, label=f"exact $p(n={n} \\mid x)$")
        ax.plot(grid, q[:, n], color=COUNT_COLOURS[n], lw=2, ls="--", label=f"learned $q(n={n} \\mid x)$")
    ax.plot(x, np.full(len(x), -0.03), "|", color="k", ms=12, label="training pixels")
    ax.set(xlabel="pixel brightness $x$", ylabel="probability", ylim=(-0.06, 1.02),
           title="The inference network trained with NVIL against the exact posterior over counts")
    ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.18))
    return fig


def occam(rows: pd.DataFrame, n: torch.Tensor) -> plt.Figure:
    """How often each step finds an object against the prior's rho, exact (solid) and learned (dashed), and
    the share of the data's true counts n (M,) that reach the step (dotted); ``rows`` has columns rho, step,
    "learned q" and "exact p"."""
    fig, ax = plt.subplots(figsize=(12, 4.4), constrained_layout=True)
    for i in range(int(rows.step.max())):
        d = rows[rows.step == i + 1].sort_values("rho")
        ax.plot(d.rho, d["exact p"], "-", color=COUNT_COLOURS[i + 1], lw=2.5,
                label=f"step {i + 1}: exact $p(n \\geq {i + 1} \\mid x)$")
        ax.plot(d.rho, d["learned q"], "o--", color=COUNT_COLOURS[i + 1], lw=2,
                label=f"step {i + 1}: learned $q(n \\geq {i + 1} \\mid x)$")
        ax.axhline(float((n >= i + 1).double().mean()), color=COUNT_COLOURS[i + 1], lw=1, ls=":")
    ax.set(xscale="log", xlabel="prior ratio $\\rho$ in $p_N(n) \\propto \\rho^n$ (left: fewer objects favoured)",
           ylabel="fraction of pixels where the step finds an object",
           title="Steps stop being used as the prior favours fewer objects (dotted: true counts)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig
