"""What every part of the book tooling shares: the repository root, the error type and the chapter list."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HIDE = "remove-cell"  # Jupyter Book's tag for a cell left out of the page


class BookError(RuntimeError):
    """A notebook failed to execute, the book failed to build, or a page failed its check."""


def notebooks(root: Path = ROOT) -> list[Path]:
    """The book's notebook sources, ``notebooks/NN_*.py``, in order."""
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.py"))


def toc_files(root: Path = ROOT) -> list[str]:
    """The pages named in ``_toc.yml``, in order, as paths without suffix (``book/00_intro``)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return files
