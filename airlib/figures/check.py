"""What every figure of the book must satisfy, checked as the build renders it: no empty panel, no legend on the data.

:func:`figure_problems` reads one matplotlib figure. The book build sets ``AIRLIB_FIGURE_CHECK`` to a file in the
kernel's environment; ``import airlib`` then calls :func:`install`, which checks each figure as the notebook's
backend renders it and appends what it finds to that file, one JSON line per figure with problems; the build
fails on any (``airlib.book.pipeline.execute``).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

ENV = "AIRLIB_FIGURE_CHECK"


def _name(fig) -> str:
    titles = [fig._suptitle.get_text()] if getattr(fig, "_suptitle", None) else []
    titles += [ax.get_title() or ax.get_title(loc="left") for ax in fig.axes]
    return next((t for t in titles if t), f"a figure of {len(fig.axes)} panels")


def _points(ax) -> np.ndarray:
    """The display coordinates (K, 2) of the data points drawn in ``ax``: line vertices and scatter offsets."""
    pts = [line.get_transform().transform(line.get_xydata()) for line in ax.lines
           if line.get_visible() and len(line.get_xydata())]
    for c in ax.collections:
        offsets = c.get_offsets()
        if c.get_visible() and len(offsets) > 1:
            pts.append(c.get_offset_transform().transform(offsets))
    pts = [p[np.isfinite(p).all(1)] for p in pts]
    return np.concatenate(pts) if pts else np.zeros((0, 2))


def figure_problems(fig) -> list[str]:
    """A figure's defects as a reader would name them: a panel with a title or axes but nothing drawn, a legend
    on top of any of its panel's plotted points (line vertices, scatter points)."""
    problems, name = [], _name(fig)
    renderer = fig.canvas.get_renderer()
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        label = ax.get_title() or ax.get_title(loc="left") or f"panel {i + 1}"
        drawn = ax.has_data() or ax.texts or ax.artists
        if not drawn and (ax.get_title() or ax.get_title(loc="left") or ax.axison):
            problems.append(f"{name}: {label!r} is empty (titled or with axes, nothing drawn)")
        legend = ax.get_legend()
        pts = _points(ax)
        if legend is not None and legend.get_visible() and len(pts):
            box = legend.get_window_extent(renderer)
            inside = ((pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1))
            if inside.any():
                problems.append(f"{name}: the legend of {label!r} covers {inside.sum()} of its {len(pts)} points")
    return problems


def install(path: str | os.PathLike) -> None:
    """Checks every figure matplotlib renders from now on (the notebook backend's ``print_figure``) and appends
    ``{"figure", "problems"}`` to ``path`` for each figure with problems."""
    from matplotlib.backend_bases import FigureCanvasBase
    original = FigureCanvasBase.print_figure
    if getattr(original, "_airlib_checked", False):
        return

    def print_figure(self, *args, **kwargs):
        problems = figure_problems(self.figure)
        if problems:
            with Path(path).open("a", encoding="utf-8") as f:
                f.write(json.dumps({"figure": _name(self.figure), "problems": problems}) + "\n")
        return original(self, *args, **kwargs)

    print_figure._airlib_checked = True
    FigureCanvasBase.print_figure = print_figure


def read(path: str | os.PathLike) -> list[str]:
    """The problems an :func:`install`-ed kernel wrote to ``path`` (none when it wrote nothing)."""
    path = Path(path)
    if not path.exists():
        return []
    return [p for line in path.read_text(encoding="utf-8").splitlines() if line for p in json.loads(line)["problems"]]
