"""The ``notebooks/NN_*.ipynb`` twins of the ``.py`` chapters, for Binder and Colab.

The ``.py`` (jupytext percent format) is the source of truth. Its twin holds no outputs and numbered
cell ids, so it is a pure function of the source. Only ``python -m airlib twins`` writes the twins;
building the book never does, and ``tests/test_book.py`` fails when one is stale.
"""
from __future__ import annotations

from pathlib import Path

import jupytext

from .common import ROOT, notebooks


def twin_text(source: Path) -> str:
    """The ``.ipynb`` twin of a ``.py`` notebook: no outputs, cell ids numbered so it is reproducible."""
    nb = jupytext.read(source)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"
    return jupytext.writes(nb, fmt="ipynb")


def stale_twins(root: Path = ROOT) -> list[Path]:
    """The twins that are missing or differ from what their ``.py`` source gives."""
    return [source.with_suffix(".ipynb") for source in notebooks(root)
            if not source.with_suffix(".ipynb").exists()
            or source.with_suffix(".ipynb").read_text() != twin_text(source)]


def write_twins(root: Path = ROOT) -> list[Path]:
    """Writes every missing or stale twin under ``root/notebooks``; returns the paths it wrote."""
    written = stale_twins(root)
    for twin in written:
        twin.write_text(twin_text(twin.with_suffix(".py")))
    return written
