"""Figures of the 3D-objects chapter (Sec. III-A): the data set (Fig. 8a), the likelihood's basin over the table
and what an angle error costs, the renderer's finite-difference Jacobian, training curves, Fig. 8 (the
inferences re-rendered), the cube's symmetry, and direct optimisation's restarts and descents.

Each function takes tensors or arrays (the study ``3d-results``'s, or the chapter's probes of
:mod:`airlib.evaluations.objects3d`) and returns the Figure; none renders or scores anything itself.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..render import OBJECTS, SYMMETRY
from ..render.likelihood import downsample


def data_set(identity: torch.Tensor, pose: torch.Tensor, images: torch.Tensor, input_size: int) -> plt.Figure:
    """Fig. 8a: scenes with their type and pose (x, y, theta) above, and the network's input below.

    Args:
        identity: (n,) types; pose: (n, 3); images: (n, 3, H, W) in [0, 1].
    """
    n = len(identity)
    fig, axes = plt.subplots(2, n, figsize=(12.5, 3.6), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(images[i].permute(1, 2, 0).numpy())
        axes[0, i].set_title(f"{OBJECTS[identity[i]]}\n({pose[i, 0]:.2f}, {pose[i, 1]:.2f}, {pose[i, 2]:.2f})",
                             fontsize=9)
        axes[1, i].imshow(downsample(images[i:i + 1], input_size)[0].permute(1, 2, 0).numpy())   # (S, S, 3)
    for ax in axes.flat:
        ax.axis("off")
    size = images.shape[-1]
    axes[0, 0].text(-10 * size / 128, size / 2, f"{size}x{size}", rotation=90, va="center", ha="right")
    axes[1, 0].text(-3, input_size / 2, f"{input_size}x{input_size} input", rotation=90, va="center", ha="right")
    fig.suptitle("Fig. 8a: images from the data set (type and x, y, theta), and the network's input")
    fig.tight_layout()
    return fig


def likelihood_basin(maps: dict[str, torch.Tensor], truth_xy, half: float = 0.35) -> plt.Figure:
    """One panel per likelihood: log p(x | cube at (x, y)) - max over the table, the truth as a star.

    Args:
        maps: title -> (G, G) map, rows from the far edge (+y) down (``evaluations.objects3d.likelihood_basin``).
        truth_xy: the observed cube's (x, y); half: the grid's half width in metres.
    """
    fig, axes = plt.subplots(1, len(maps), figsize=(12.5, 3.9), squeeze=False)
    for ax, (name, ll) in zip(axes[0], maps.items()):
        im = ax.imshow(torch.as_tensor(ll).numpy(), extent=(-half, half, -half, half))
        ax.plot(*truth_xy, "w*", ms=14)
        ax.set_title(f"{name}\nlog p(x | cube at (x, y)) - max", fontsize=10)
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        plt.colorbar(im, ax=ax)
    fig.tight_layout()
    return fig


def angle_drops(angles: np.ndarray, drops: dict[tuple[str, str], np.ndarray]) -> plt.Figure:
    """Nats lost against the angle error (log-log), one panel per object, one line per likelihood.

    Args:
        angles: (A,) degrees; drops: (object, likelihood) -> (A,) nats (``evaluations.objects3d.angle_drops``).
    """
    objects = list(dict.fromkeys(obj for obj, _ in drops))
    fig, axes = plt.subplots(1, len(objects), figsize=(11, 3.8), squeeze=False)
    for ax, obj in zip(axes[0], objects):
        for (o, name), d in drops.items():
            if o == obj:
                ax.plot(angles, np.maximum(d, 1e-2), "o--" if name == "wide only" else "o-", label=name)
        ax.set_yscale("log")
        ax.set_xscale("symlog", linthresh=10)
        ax.axhline(1, color="grey", lw=0.8)
        ax.set_xlabel("angle error (degrees)")
        ax.set_ylabel("log p(x | true z) - log p(x | turned z)")
        ax.set_title(f"{obj} (symmetry: {math.degrees(SYMMETRY[obj]):g} degrees)")
        ax.legend()
    fig.tight_layout()
    return fig


def jacobian(image: np.ndarray, jac: torch.Tensor, title: str) -> plt.Figure:
    """An image and the three columns of its Jacobian with respect to (x, y, theta), the centre half of each.

    Args:
        image: (H, W, 3) uint8; jac: (3, 3, H, W), d image / d pose_k (``render.gradient.image_jacobian``).
    """
    h = image.shape[0]
    crop = slice(h // 4, 3 * h // 4)
    fig, axes = plt.subplots(1, 4, figsize=(12.5, 3.4))
    axes[0].imshow(image[crop, crop])
    axes[0].set_title(title)
    for ax, j, name in zip(axes[1:], jac, ["d y / d x", "d y / d y", "d y / d theta"]):
        m = j.abs().max().item()
        ax.imshow(j.sum(0)[crop, crop].numpy(), cmap="RdBu", vmin=-m, vmax=m)     # (H/2, W/2), summed over rgb
        ax.set_title(name + " (forward difference)")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def training_curves(histories: dict[str, list[dict]], fine_start: int) -> plt.Figure:
    """AIR's training ELBO, and each network's type accuracy, position and rotation error on the checks.

    Args:
        histories: method ("air", "supervised") -> its record's ``history``; fine_start: the step at which the
            narrow level switches on (dotted).
    """
    fig, axes = plt.subplots(1, 4, figsize=(12.5, 3.2))
    h = [r for r in histories["air"] if r.get("train_elbo") is not None]
    axes[0].plot([r["step"] for r in h], [r["train_elbo"] for r in h])
    axes[0].set_title("AIR: ELBO of training batches")
    for m, history in histories.items():
        steps = [r["step"] for r in history]
        axes[1].plot(steps, [r["identity_accuracy"] for r in history], label=m)
        axes[2].plot(steps, [r["position_error"] for r in history], label=m)
        axes[3].plot(steps, [r["rotation_error_deg"] for r in history], label=m)
    axes[1].set_title("type accuracy")
    axes[2].set_title("position error / table width")
    axes[3].set_title("rotation error (cube, cylinder), deg")
    for ax in axes:
        ax.set_xlabel("step")
        ax.axvline(fine_start, color="grey", lw=0.8, ls=":")
    axes[1].legend()
    fig.suptitle("Training on 100 held-out scenes (dotted: the narrow level switches on)")
    fig.tight_layout()
    return fig


def inferences(rows: list, truth: torch.Tensor) -> plt.Figure:
    """Fig. 8: the data (first row) and each method's inference, re-rendered, the rotation error below each.

    Args:
        rows: ``(label, identity (k,), images (k, 3, H, W), rotation error (k,) degrees)`` per row, the data
            first (``evaluations.objects3d.rerendered``); truth: (k,) the true types.
    """
    k = len(truth)
    fig, axes = plt.subplots(len(rows), k, figsize=(1.55 * k, 1.8 * len(rows)), squeeze=False)
    for r, (label, gi, imgs, err) in enumerate(rows):
        h = imgs.shape[-1]
        for i in range(k):
            axes[r, i].imshow(imgs[i].permute(1, 2, 0)[h // 8:h - h // 8, h // 8:h - h // 8].numpy())
            axes[r, i].set_xticks([])
            axes[r, i].set_yticks([])
            if r and not math.isnan(err[i]):
                wrong = "" if gi[i] == truth[i] else f"{OBJECTS[gi[i]]}! "
                axes[r, i].set_xlabel(f"{wrong}{err[i]:.1f}", fontsize=9)
            elif r == 0:
                axes[r, i].set_title(OBJECTS[truth[i]], fontsize=9)
        axes[r, 0].set_ylabel(label, fontsize=9)
    fig.suptitle("Fig. 8: data, and the re-rendered inferences (rotation error in degrees below each)")
    fig.tight_layout()
    return fig


def cube_symmetry(true_deg: np.ndarray, pred: dict[str, np.ndarray], error: dict[str, np.ndarray],
                  modes_mean: np.ndarray) -> plt.Figure:
    """Each network's predicted against true angle of every cube, and the histogram of its error modulo 90
    degrees; the mean of the four labels (red) beside the last network.

    Args:
        true_deg: (C,) degrees; pred, error: network -> (C,) predicted angle and signed error modulo 90 degrees;
            modes_mean: (C,) the mean, on the line, of the four labels (``evaluations.objects3d.cube_angles``).
    """
    fig, axes = plt.subplots(1, len(pred) + 1, figsize=(12.5, 3.8))
    for ax, (label, p) in zip(axes, pred.items()):
        ax.scatter(true_deg, p, s=4, alpha=0.6)
        ax.set_xlabel("true angle (deg)")
        ax.set_ylabel("predicted angle (deg)")
        ax.set_title(f"{label}: cubes")
        axes[-1].hist(error[label], bins=np.arange(-45, 46, 3), histtype="step", lw=1.5, label=label)
    for ax in axes[:-1]:
        for x in (-90, 0, 90):
            ax.plot([-180, 180], [x - 180, x + 180], color="grey", lw=0.5)
    axes[-2].plot(true_deg, modes_mean, ".", ms=1.5, color="red", label="mean of the 4 labels")
    axes[-2].legend(loc="lower right", fontsize=8)
    axes[-1].set_xlabel("error modulo 90 degrees")
    axes[-1].set_ylabel("cubes")
    axes[-1].legend()
    for ax in axes[:-1]:
        ax.set_xlim(-180, 180)
        ax.set_ylim(-180, 180)
    fig.tight_layout()
    return fig


def stability(rotation_error: torch.Tensor, traces: torch.Tensor, fine_step: int) -> plt.Figure:
    """Direct optimisation: each scene's rotation error at the end of each restart, and each descent's
    log-likelihood below its best over the Adam steps.

    Args:
        rotation_error: (scenes, restarts) degrees (NaN: sphere or wrong type); traces: (images, steps) the full
            log p(x | z) of each descent; fine_step: the step at which the narrow level switches on (dotted).
    """
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 3.6))
    for j in range(rotation_error.shape[1]):
        axes[0].plot(np.arange(len(rotation_error)), rotation_error[:, j].numpy(), "o", ms=3, alpha=0.7)
    axes[0].set_xlabel("held-out scene")
    axes[0].set_ylabel("rotation error (deg)")
    axes[0].set_title(f"direct optimisation, {rotation_error.shape[1]} random restarts per scene")
    for t in traces:
        axes[1].plot((t - t.max()).numpy(), alpha=0.4)
    axes[1].set_yscale("symlog")
    axes[1].axvline(fine_step, color="grey", lw=0.8, ls=":")
    axes[1].set_xlabel("Adam step (dotted: the narrow level switches on)")
    axes[1].set_ylabel("log p(x | z) - its best (nats)")
    axes[1].set_title("direct optimisation, one line per test image")
    fig.tight_layout()
    return fig
