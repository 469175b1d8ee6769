"""Figures of chapter 4 (representational power, Sec. II-B), drawn from the recorded study ``representations-results``
(:mod:`airlib.evaluations.representations`): Fig. 7, accuracy against the number of labels, and the validation
curves that show where each chosen head's fit stopped.

Each function returns the Figure.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from .. import representations as reps
from ..spread import mean_se

NAMES = {"AIR": "AIR", "CAE": "CAE", "DRAW": "DRAW", "pixels": "CNN (pixels)"}
COLOURS = dict(zip(NAMES, sns.color_palette("colorblind", 4)))
MARKERS = dict(zip(NAMES, "osD^"))
TITLES = {"sum": "Sum of the two digits", "ascending": "Digits in ascending order"}


def accuracy_bands(study: dict) -> plt.Figure:
    """Fig. 7 as the paper draws it: mean test accuracy against the number of labelled images (log axis), one line
    per representation and task, a band of two standard errors (over codes and classifier seeds) either side,
    and the majority class's share as a dotted line."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9), constrained_layout=True)
    for ax, task in zip(axes, reps.TASKS):
        for rep, label in NAMES.items():
            r = study[rep][task]
            mean, se = np.array([mean_se(a) for a in r["accuracy"]]).T        # per label count, over codes x seeds
            ax.plot(r["n"], mean, marker=MARKERS[rep], ms=5, color=COLOURS[rep], label=label)
            ax.fill_between(r["n"], mean - 2 * se, mean + 2 * se, color=COLOURS[rep], alpha=0.2, lw=0)
        ax.axhline(study["majority"][task], color="gray", ls=":", lw=1.2, label="majority class")
        ax.set(xscale="log", xlabel="labelled training images", ylabel="test accuracy", ylim=(0, 1.02),
               title=TITLES[task])
        ax.legend(fontsize=8, loc="upper left")
    return fig


def stopping_curves(study: dict, counts=(1000, 10000)) -> plt.Figure:
    """Validation accuracy along each chosen head's first fit (the one the grid chose it by), per task and label
    count: where each fit's best check was (a dot) and where it stopped (the line's end)."""
    fig, axes = plt.subplots(len(counts), 2, figsize=(11, 3.2 * len(counts)), constrained_layout=True, squeeze=False)
    for row, n in zip(axes, counts):
        for ax, task in zip(row, reps.TASKS):
            for rep, label in NAMES.items():
                r = study[rep][task]
                if n not in r["n"]:
                    continue
                i = r["n"].index(n)
                steps, acc = np.array(r["curve"][i]).T
                ax.plot(steps, acc, color=COLOURS[rep], lw=1.2, label=label)
                best = int(np.argmax(acc))
                ax.plot(steps[best], acc[best], "o", color=COLOURS[rep], ms=5)
            ax.set(xlabel="Adam step", ylabel="validation accuracy", title=f"{TITLES[task]}, {n:,} labels")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=9)   # below, off the data
    return fig
