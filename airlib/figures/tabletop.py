"""Figures of the table-top chapter (Sec. III-B): the scenes, training curves, Fig. 9 (the scene from above,
AIR against the supervised networks, where each step looks) and Fig. 10 (the moving camera).

Each function takes scenes (:class:`airlib.tabletop_scenes.Scenes`, numpy) and a renderer, and returns the Figure.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Circle, Patch, Rectangle

from .. import tabletop_scenes
from ..render.crockery import BODY_RADIUS
from ..render.likelihood import downsample
from ..render.tabletop import COLOURS, KINDS, TableSpec

SPEC = TableSpec()


def _scene_names(s: tabletop_scenes.Scenes, i: int) -> str:
    return ", ".join(KINDS[k] for k in s.kind[i][s.present[i]]) or "empty"


def sample_scenes(rows: list[tuple[str, tabletop_scenes.Scenes]], renderer, downsampled: int = 32) -> plt.Figure:
    """Rows of rendered scenes with their contents as titles, and the first row at the network's input size.

    Args:
        rows: (title, scenes) per row, each with the same number of scenes.
        downsampled: the input size the last row shows the first row at.
    """
    n = len(rows[0][1].present)
    fig, axes = plt.subplots(len(rows) + 1, n, figsize=(12.5, 2.15 * (len(rows) + 1)), squeeze=False)
    for r, (title, s) in enumerate(rows):
        x = renderer.render_batch(*s)                                           # (n, 3, H, W)
        moving = bool(np.any(s.camera != 0))
        for i in range(n):
            axes[r, i].imshow(x[i].permute(1, 2, 0))
            axes[r, i].set_title(_scene_names(s, i) + (f"\ncamera {s.camera[i]:+.0f} deg" if moving else ""), fontsize=8)
            if r == 0:
                axes[-1, i].imshow(downsample(x[i:i + 1], downsampled)[0].permute(1, 2, 0))
        axes[r, 0].text(-8, x.shape[-1] / 2, title, rotation=90, va="center", ha="right", fontsize=9)
    axes[-1, 0].text(-2, downsampled / 2, f"{downsampled}x{downsampled} input (row 1)", rotation=90, va="center",
                     ha="right", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


FAMILY_COLOUR = {"AIR": "C0", "DAIR": "C1", "supervised": "C2", "supervised by type": "C3", "sleep phase": "C4"}
DATA_STYLE = {"": "-", "each type once": "--", "moving camera": ":"}


def curve_style(label: str) -> tuple[str, str]:
    """A network's colour (by method: the part of its label before the first comma) and line style (by data set:
    the rest), so no two of chapter 6's networks share both; e.g. "DAIR, moving camera" -> ("C1", ":")."""
    family, _, data = label.partition(", ")
    family = family.replace(" (beyond the paper)", "")
    if family not in FAMILY_COLOUR or data not in DATA_STYLE:
        raise ValueError(f"no curve style for {label!r}: methods {sorted(FAMILY_COLOUR)}, data sets "
                         f"{sorted(k for k in DATA_STYLE if k)}")
    return FAMILY_COLOUR[family], DATA_STYLE[data]


def training_curves(records: dict[str, dict], check_scenes: int) -> plt.Figure:
    """Count accuracy and position error on the held-out checks over training, one line per network (label ->
    record), its colour naming the method and its line style the data set (:func:`curve_style`)."""
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 3.4))
    for label, record in records.items():
        h = record["history"]
        colour, style = curve_style(label)
        for ax, key in zip(axes, ("count_accuracy", "position_error")):
            ax.plot([r["step"] for r in h], [r[key] for r in h], style, color=colour, label=label)
    axes[0].set_ylabel(f"count accuracy ({check_scenes} held-out scenes)")
    axes[1].set_ylabel("position error (table widths)")
    for ax in axes:
        ax.set_xlabel("training step")
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))        # beside the curves
    fig.tight_layout()
    return fig


def top_view(ax, truth: tabletop_scenes.Scenes, guess: tabletop_scenes.Scenes, b: int, camera: bool = False,
             spec: TableSpec = SPEC) -> None:
    """Draws scene b from above: the truth as filled discs in the type's colour, the inference as red outlines
    numbered by step, and with ``camera`` the true (black) and inferred (red) camera directions."""
    t = spec.table_half_width
    ax.add_patch(Rectangle((-t, -t), 2 * t, 2 * t, color="0.15"))
    for i in np.flatnonzero(truth.present[b]):
        k = KINDS[truth.kind[b, i]]
        ax.add_patch(Circle(truth.pose[b, i, :2], BODY_RADIUS[k], color=COLOURS[k], alpha=0.9))
    for step, i in enumerate(np.flatnonzero(guess.present[b])):
        k = KINDS[guess.kind[b, i]]
        ax.add_patch(Circle(guess.pose[b, i, :2], BODY_RADIUS[k], fill=False, ec="red", lw=2))
        ax.text(*guess.pose[b, i, :2], str(step + 1), color="white", ha="center", va="center", fontsize=10,
                fontweight="bold", bbox=dict(boxstyle="circle,pad=0.15", fc="red", ec="none"))   # legible on any fill
    if camera:
        for c, colour in ((truth.camera[b], "black"), (guess.camera[b], "red")):
            a = np.radians(spec.azimuth + c)         # MuJoCo's azimuth: the camera looks along (cos a, sin a)
            ax.annotate("", xy=(0.25 * np.cos(a), 0.25 * np.sin(a)), xytext=(-0.7 * np.cos(a), -0.7 * np.sin(a)),
                        arrowprops=dict(arrowstyle="->", color=colour, lw=2))
    ax.set_xlim(-0.75, 0.75)
    ax.set_ylim(-0.75, 0.75)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def scenes_from_above(rows: list[tuple[str, tabletop_scenes.Scenes, tabletop_scenes.Scenes, list[int], bool]], renderer) -> plt.Figure:
    """Fig. 9, left: per row (label, truth, guess, scene indices, moving camera), each scene's image beside its
    :func:`top_view`; a key of the object types."""
    width = 2 * max(len(picks) for *_, picks, _ in rows)
    fig, axes = plt.subplots(len(rows), width, figsize=(12.5, 1.8 * len(rows) + 0.4), squeeze=False)
    for j, (label, truth, guess, picks, cam) in enumerate(rows):
        images = renderer.render_batch(*truth.take(picks))                     # (len(picks), 3, H, W)
        for n, b in enumerate(picks):
            axes[j, 2 * n].imshow(images[n].permute(1, 2, 0))
            axes[j, 2 * n].axis("off")
            top_view(axes[j, 2 * n + 1], truth, guess, b, camera=cam)
        axes[j, 0].set_title(label, fontsize=9, loc="left")
    for ax in axes.flat:
        if not ax.has_data() and not ax.patches:
            ax.axis("off")
    fig.legend(handles=[Patch(color=COLOURS[k], label=k) for k in KINDS]
               + [Patch(fill=False, ec="red", label="inferred (step)")], loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def against_supervised(networks: dict[str, dict], groups: list[tuple[str, ...]],
                       who: tuple[str, ...] = ("AIR", "naive supervised", "supervised by type")) -> plt.Figure:
    """Fig. 9, middle: reconstruction error and count accuracy of the networks ``who`` names, one bar each per data
    set; ``groups`` holds (data set, then one label into ``networks``' scores per entry of ``who``)."""
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 3.2))
    width = 0.8 / len(who)
    for ax, key, title in ((axes[0], "reconstruction_error", "reconstruction error (MSE, 32x32)"),
                           (axes[1], "count_accuracy", "count accuracy")):
        for n, name in enumerate(who):
            vals = [networks[g[1 + n]][key] for g in groups]
            ax.bar(np.arange(len(groups)) + (n - (len(who) - 1) / 2) * width, vals, width, color=f"C{n}", label=name)
        ax.set_xticks(np.arange(len(groups)), [g[0] for g in groups])
        ax.set_title(title, fontsize=10)
    axes[1].set_ylim(0, 1)
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))    # beside the bars, not on them
    fig.tight_layout()
    return fig


def where_steps_look(guesses: dict[str, tabletop_scenes.Scenes], spec: TableSpec = SPEC) -> tuple[plt.Figure, pd.DataFrame]:
    """Fig. 9, right: where each network's objects are inferred on the table, by step (first row of each
    network) and by inferred type (second row); and the table of inferred types by step."""
    p = spec.placement_half_width
    bins = np.linspace(-p - 0.05, p + 0.05, 13)
    fig, axes = plt.subplots(2 * len(guesses), 3, figsize=(9.5, 6.2 * len(guesses)), squeeze=False)
    step_kinds = {}
    for r, (net, g) in enumerate(guesses.items()):
        for i in range(tabletop_scenes.N):
            on = g.present[:, i]                                                 # (B,)
            axes[2 * r, i].hist2d(g.pose[on, i, 0], g.pose[on, i, 1], bins=[bins, bins], cmap="magma")
            axes[2 * r, i].set_title(f"{net}, step {i + 1}: {on.sum()} objects", fontsize=9)
        for k, name in enumerate(KINDS):
            on = g.present & (g.kind == k)                                       # (B, N)
            axes[2 * r + 1, k].hist2d(g.pose[..., 0][on], g.pose[..., 1][on], bins=[bins, bins], cmap="magma")
            axes[2 * r + 1, k].set_title(f"{net}, inferred {name}s: {on.sum()}", fontsize=9)
        steps = np.repeat(np.arange(1, tabletop_scenes.N + 1)[None], len(g.present), 0)[g.present]
        step_kinds[net] = pd.crosstab(steps, np.array(KINDS)[g.kind[g.present]], rownames=["step"],
                                      colnames=["inferred type"])
    for ax in axes.flat:
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig, pd.concat(step_kinds, names=["network"])


def moving_camera(truth: tabletop_scenes.Scenes, guesses: dict[str, tabletop_scenes.Scenes], renderer, shown: int = 5) -> plt.Figure:
    """Fig. 10: held-out scenes from a random camera (top), each network's re-rendered inference (below), and
    the histogram of camera angle errors."""
    picks = list(range(min(shown, len(truth.present))))
    fig = plt.figure(figsize=(12.5, 2.2 * (1 + len(guesses))))
    # the thumbnails, then the histogram over every row: no empty column between them
    grid = fig.add_gridspec(1 + len(guesses), len(picks) + 1, width_ratios=[1] * len(picks) + [2.0])
    rows = [("data", truth)] + list(guesses.items())
    for r, (who, scenes) in enumerate(rows):
        images = renderer.render_batch(*scenes.take(picks))                    # (len(picks), 3, H, W)
        for n in range(len(picks)):
            a = fig.add_subplot(grid[r, n])
            a.imshow(images[n].permute(1, 2, 0))
            k = int(scenes.present[n].sum())
            a.set_title(f"{k} object{'' if k == 1 else 's'}, {scenes.camera[n]:+.0f}°", fontsize=10)
            a.axis("off")
            if n == 0:                                                          # the row's name, left of it
                a.text(-0.08, 0.5, who, transform=a.transAxes, rotation=90, ha="right", va="center", fontsize=11)
    a = fig.add_subplot(grid[:, len(picks)])
    errors = {who: g.camera - truth.camera for who, g in guesses.items()}
    edges = np.histogram_bin_edges(np.concatenate(list(errors.values())), bins=40)
    for who, err in errors.items():
        a.hist(err, bins=edges, alpha=0.6, label=who)
    a.set_xlabel("inferred - true camera angle (deg)")
    a.set_ylabel("held-out scenes")
    a.legend(fontsize=9, loc="upper left", bbox_to_anchor=(0.0, -0.12), ncol=1)        # below, off the bars
    fig.tight_layout()
    return fig


def image_rows(rows: list[tuple[str, object]]) -> plt.Figure:
    """Rows of images (B, 3, H, W) in [0, 1], each titled (e.g. plain and perturbed renders of the same scenes)."""
    n = len(rows[0][1])
    fig, axes = plt.subplots(len(rows), n, figsize=(12.5, 2.2 * len(rows)), squeeze=False)
    for row, (title, images) in enumerate(rows):
        for i in range(n):
            axes[row, i].imshow(images[i].permute(1, 2, 0))
            axes[row, i].axis("off")
        axes[row, 0].set_title(title, fontsize=9, loc="left")
    fig.tight_layout()
    return fig
