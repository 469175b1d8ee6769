"""Figures of the multi-MNIST chapter: Fig. 3 (data, reconstructions with attention windows), Fig. 4
(count accuracy over training, scanning policy), Fig. 5 (reconstructions along training)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from .spatial import window_box

STEP_COLOURS = ("red", "lime", "blue")       # steps 1, 2, 3, as in Fig. 3b


def _image_axes(n: int, rows: int = 1, size: float = 1.3, title: str | None = None):
    fig, axes = plt.subplots(rows, n, figsize=(size * n, size * rows + (0.4 if title else 0)), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([]), ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return fig, axes


def draw_windows(ax, z_where: torch.Tensor, z_pres: torch.Tensor, image_size: int = 50, lw: float = 1.5) -> None:
    """Draws the attention windows of present steps in red, green, blue (steps 1, 2, 3).

    Args:
        z_where: (N, 3); z_pres: (N,).
    """
    for i in range(len(z_pres)):
        if z_pres[i] > 0:
            left, top, w, h = window_box(z_where[i].float(), image_size).tolist()
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), w, h, fill=False, lw=lw,
                                   ec=STEP_COLOURS[i % len(STEP_COLOURS)]))


def show_images(images, titles=None, title: str | None = None):
    """A row of images (B, H, W) in [0, 1] (Fig. 3a)."""
    images = torch.as_tensor(images)
    fig, axes = _image_axes(len(images), title=title)
    for i, ax in enumerate(axes[0]):
        ax.imshow(images[i].float(), cmap="gray", vmin=0, vmax=1)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    return fig


def show_reconstructions(images, inference, title: str | None = None, label: str = "AIR"):
    """Data (top) and reconstructions with attention windows (bottom), Fig. 3b.

    Args:
        images: (B, H, W); inference: the result of ``model.infer(images)``; label: the model's name.
    """
    images = torch.as_tensor(images).float()
    fig, axes = _image_axes(len(images), rows=2, title=title)
    for i in range(len(images)):
        axes[0, i].imshow(images[i], cmap="gray", vmin=0, vmax=1)
        axes[1, i].imshow(inference.reconstruction[i].float().clamp(0, 1), cmap="gray", vmin=0, vmax=1)
        draw_windows(axes[1, i], inference.z_where[i], inference.z_pres[i], images.shape[-1])
        axes[1, i].set_title(f"n = {int(inference.z_pres[i].sum())}", fontsize=9)
    axes[0, 0].set_ylabel("data"), axes[1, 0].set_ylabel(label)
    return fig


def show_snapshots(images, snapshots: list[dict], max_rows: int = 8):
    """Reconstructions of fixed test images at several stages of training (Fig. 5).

    Args:
        images: (B, H, W) the fixed images.
        snapshots: dicts with ``step``, ``reconstruction`` (B, H, W), ``z_where`` (B, N, 3), ``z_pres`` (B, N).
    """
    snaps = snapshots if len(snapshots) <= max_rows else [snapshots[i] for i in
                                                           np.linspace(0, len(snapshots) - 1, max_rows).round().astype(int)]
    images = torch.as_tensor(images).float()
    fig, axes = _image_axes(len(images), rows=len(snaps) + 1, size=1.1)
    for i in range(len(images)):
        axes[0, i].imshow(images[i], cmap="gray", vmin=0, vmax=1)
        for r, s in enumerate(snaps, start=1):
            axes[r, i].imshow(s["reconstruction"][i].float().clamp(0, 1), cmap="gray", vmin=0, vmax=1)
            draw_windows(axes[r, i], s["z_where"][i], s["z_pres"][i], images.shape[-1], lw=1.0)
    axes[0, 0].set_ylabel("data", fontsize=8)
    for r, s in enumerate(snaps, start=1):
        axes[r, 0].set_ylabel(f"step {s['step']}", fontsize=8)
    fig.tight_layout(pad=0.3)
    return fig


def plot_training(histories: dict[str, list[dict]], target: float | None = 0.98):
    """Count accuracy on held-out images (Fig. 4, left) and the ELBO over training, one line per run.

    Args:
        histories: run label -> list of logged records (``step``, ``test_count_accuracy``, ``test_elbo``, ``wall``).
        target: a horizontal reference line for the accuracy.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    for label, hist in histories.items():
        steps = [h["step"] for h in hist]
        ax1.plot(steps, [h["test_count_accuracy"] for h in hist], label=label)
        ax2.plot(steps, [h["test_elbo"] for h in hist], label=label)
    if target is not None:
        ax1.axhline(target, color="gray", ls=":", lw=1)
    ax1.set(xlabel="training step", ylabel="count accuracy (held-out)", ylim=(0, 1.01), title="Count accuracy")
    ax2.set(xlabel="training step", ylabel="ELBO (nats / image)", title="ELBO (held-out, one sample)")
    lo = np.percentile([h["test_elbo"] for hist in histories.values() for h in hist], 5)
    ax2.set_ylim(bottom=lo)
    ax1.legend(fontsize=8), ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_seeds(groups: dict[str, dict[int, dict]], target: float = 0.98, metric: str = "test_count_accuracy"):
    """Every seed of each model over training (the reliability figure): count accuracy and the IoU of
    the windows of steps 1 and 2 (near 1 when two windows share one digit), seeds that end below
    ``target`` drawn in red.

    Args:
        groups: model label -> {seed: record} (records with ``history`` and ``metrics``).
    """
    # at most 12.5 inches wide: shown in the text column, the 8 pt labels stay legible
    fig, axes = plt.subplots(2, len(groups), figsize=(min(5.5 * len(groups), 12.5), 6.4), squeeze=False, sharex="col")
    for j, (label, records) in enumerate(groups.items()):
        ok = 0
        for seed, r in sorted(records.items()):
            hist = r["history"]
            good = r["metrics"].get(metric, 0) >= target
            ok += good
            style = dict(color="tab:blue" if good else "tab:red", alpha=0.7, lw=1)
            steps = [h["step"] for h in hist]
            axes[0, j].plot(steps, [h[metric] for h in hist], **style)
            axes[1, j].plot(steps, [h.get("iou12", np.nan) for h in hist], **style)
        axes[0, j].axhline(target, color="gray", ls=":", lw=1)
        axes[0, j].set(ylim=(0, 1.01), ylabel="count accuracy (held-out)",
                       title=f"{label}:\n{ok} of {len(records)} seeds reach {target:.0%}")
        axes[1, j].set(ylim=(0, 1.01), xlabel="training step", ylabel="IoU of windows 1 and 2")
    fig.tight_layout()
    return fig


def scanning_heatmaps(runs: dict[str, tuple[torch.Tensor, torch.Tensor]], image_size: int = 50, bins: int = 25):
    """Where each step's window centre lies, per run (Fig. 4, right): step 1 red, step 2 green.

    Args:
        runs: label -> ``(z_where (B, N, 3), z_pres (B, N))`` inferred on held-out images.
    """
    fig, axes = _image_axes(len(runs), size=3.0)
    for ax, (label, (z_where, z_pres)) in zip(axes[0], runs.items()):
        rgb = np.zeros((bins, bins, 3))
        for i in range(min(2, z_where.shape[1])):
            keep = z_pres[:, i] > 0
            xy = ((z_where[keep, i, 1:] + 1) / 2).clamp(0, 0.999).numpy()
            h, _, _ = np.histogram2d(xy[:, 1], xy[:, 0], bins=bins, range=[[0, 1], [0, 1]])
            rgb[..., i] = h / max(h.max(), 1)
        ax.imshow(rgb ** 0.5, extent=(0, image_size, image_size, 0))
        ax.set_title(label, fontsize=9)
    axes[0, 0].set_xlabel("window centres: step 1 red, step 2 green", fontsize=8)
    fig.tight_layout()
    return fig


def plot_confusion(true_counts, inferred_counts, max_count: int = 3):
    """A count confusion matrix: rows the true number of digits, columns the inferred one."""
    true_counts, inferred_counts = np.asarray(true_counts), np.asarray(inferred_counts)
    rows = int(true_counts.max()) + 1
    m = np.zeros((rows, max_count + 1), dtype=int)
    np.add.at(m, (true_counts, inferred_counts), 1)
    fig, ax = plt.subplots(figsize=(3.8, 3.0))
    ax.imshow(m / m.sum(1, keepdims=True).clip(min=1), cmap="Blues", vmin=0, vmax=1)
    for (r, c), v in np.ndenumerate(m):
        ax.text(c, r, str(v), ha="center", va="center", fontsize=9,
                color="white" if v > 0.5 * m[r].sum() else "black")
    ax.set(xticks=range(max_count + 1), yticks=range(rows), xlabel="inferred count", ylabel="true count")
    fig.tight_layout()
    return fig, m


def plot_histories(ax, groups: dict[str, list[list[dict]]], metric: str, ylabel: str, title: str,
                   dashed=(), colours: dict[str, str] | None = None) -> None:
    """One colour per group, one line per run (seed): ``metric`` of the logged records over training.

    Args:
        groups: label -> the histories of its runs (lists of records with ``step`` and ``metric``).
        dashed: labels drawn dashed (recipes beyond the paper, beside the paper's solid lines).
        colours: label -> colour, so that a group keeps its colour across panels (default: the colour cycle in
            the order of ``groups``).
    """
    unknown = set(dashed) - set(groups)
    if unknown:
        raise ValueError(f"dashed names groups that are not plotted: {sorted(unknown)}; the groups are {list(groups)}")
    cycle = dict(zip(groups, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for label, histories in groups.items():
        colour = (colours or cycle).get(label, cycle[label])
        for i, hist in enumerate(histories):
            ax.plot([h["step"] for h in hist], [h[metric] for h in hist], color=colour, alpha=0.8, lw=1.2,
                    ls="--" if label in dashed else "-", label=label if i == 0 else None)
    ax.set(xlabel="training step", ylabel=ylabel, title=title)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)   # below the panel, off the data


def model_diagram(config) -> plt.Figure:
    """Fig. 2 drawn from the library: the generative model (left) and one inference step (right), with the
    sizes of ``config`` (an ``AIRConfig``), so the picture cannot drift from the code."""
    c = config
    fig, (gen, inf) = plt.subplots(1, 2, figsize=(12, 4.6))
    boxes = {}

    def box(ax, key, xy, text, colour):
        ax.text(*xy, text, ha="center", va="center", fontsize=9, bbox=dict(boxstyle="round,pad=0.35", fc=colour, ec="0.3"))
        boxes[ax, key] = xy

    def edge(p, q, half=(0.115, 0.085)):              # where the segment p -> q leaves the box around p
        dx, dy = q[0] - p[0], q[1] - p[1]
        t = min(half[0] / abs(dx) if dx else 1e9, half[1] / abs(dy) if dy else 1e9)
        return p[0] + t * dx, p[1] + t * dy

    def arrow(ax, a, b, label=""):
        (x0, y0), (x1, y1) = edge(boxes[ax, a], boxes[ax, b]), edge(boxes[ax, b], boxes[ax, a])
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color="0.25", lw=1.2))
        if label:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.035, label, ha="center", fontsize=10, color="0.2")

    prior, net, data = "#f6e3b4", "#cfe2f3", "#d9ead3"
    box(gen, "n", (0.12, 0.85), f"$n \\sim \\mathrm{{Geom}}(\\rho)$\n$z_\\mathrm{{pres}}$: unary, $N = {c.max_steps}$", prior)
    box(gen, "what", (0.12, 0.5), f"$z^i_\\mathrm{{what}} \\sim \\mathcal{{N}}(0, I)$\n({c.z_what} numbers)", prior)
    box(gen, "where", (0.12, 0.15), f"$z^i_\\mathrm{{where}} = (s, x, y)$\n$s \\sim \\mathcal{{N}}({c.scale_prior[0]}, {c.scale_prior[1]}^2)$", prior)
    box(gen, "dec", (0.45, 0.5), f"decoder\n{c.z_what} -> {c.hidden} -> {c.window}x{c.window}", net)
    box(gen, "st", (0.45, 0.15), f"spatial transformer\n{c.window}x{c.window} -> {c.image_size}x{c.image_size}", net)
    box(gen, "x", (0.85, 0.5), f"$x \\sim \\mathcal{{N}}(\\sum_i z^i_\\mathrm{{pres}} y^i,$\n${c.likelihood_sd}^2 I)$\n{c.image_size}x{c.image_size}", data)
    arrow(gen, "what", "dec"), arrow(gen, "dec", "st", "$y^i_\\mathrm{att}$"), arrow(gen, "where", "st")
    arrow(gen, "st", "x", "$y^i$"), arrow(gen, "n", "x", "which $i$ are drawn")
    gen.set_title("generative model $p(x, z, n)$", fontsize=11)

    reads = "$x^i - x$ (DAIR)" if c.difference else "$x$"
    box(inf, "x", (0.1, 0.85), f"image\n{reads}", data)
    box(inf, "lstm", (0.42, 0.85), f"LSTM, {c.lstm} units\nembed {c.image_size ** 2} -> {c.embed}", net)
    box(inf, "prev", (0.1, 0.5), "$z^{i-1}$: where,\nwhat, pres", prior)
    box(inf, "pres", (0.78, 0.85), "$q(z^i_\\mathrm{pres})$\nBernoulli", prior)
    box(inf, "where", (0.78, 0.5), "$q(z^i_\\mathrm{where})$\nGaussian, 3", prior)
    box(inf, "st", (0.78, 0.15), f"inverse transformer\n$\\to x_\\mathrm{{att}}$ {c.window}x{c.window}", net)
    box(inf, "enc", (0.42, 0.15), f"encoder\n{c.window ** 2} -> {c.hidden}", net)
    box(inf, "what", (0.42, 0.5), f"$q(z^i_\\mathrm{{what}})$\nGaussian, {c.z_what}", prior)
    arrow(inf, "x", "lstm"), arrow(inf, "prev", "lstm"), arrow(inf, "lstm", "pres"), arrow(inf, "lstm", "where")
    arrow(inf, "where", "st"), arrow(inf, "st", "enc"), arrow(inf, "enc", "what")
    inf.set_title(f"one inference step i of {'DAIR' if c.difference else 'AIR'} (Eq. 2)", fontsize=11)
    for ax in (gen, inf):
        ax.set(xlim=(-0.05, 1.02), ylim=(0, 1)), ax.axis("off")
    fig.tight_layout()
    return fig
