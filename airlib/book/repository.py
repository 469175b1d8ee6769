"""The repository's address, one setting (``repository.url`` in ``_config.yml``), and the install cell.

Jupyter Book reads the setting for the repository button and the Binder and Colab launch buttons.
The README and the first cell of every chapter, which installs airlib when the notebook runs in Colab
or Binder, carry copies of it: ``python -m airlib repository URL`` writes the setting and every copy,
and ``tests/test_book.py`` fails when a copy differs from the setting.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from .common import HIDE, ROOT, BookError, notebooks

# The first cell of every chapter (hidden in the book). It does nothing where airlib is importable (the
# book's build, Binder, a local Jupyter); elsewhere (Colab) it clones the repository, whose artifacts/
# hold the trained models, and installs it with its dependencies from the package index, nothing else.
INSTALL_CELL = '''# %% tags=["{tag}"]
# Colab (or any Jupyter without airlib): install airlib from its repository, dependencies from PyPI.
import importlib.util, os, subprocess, sys  # noqa: E401
if importlib.util.find_spec("airlib") is None:
    repo = os.path.abspath("airlib-repo")
    if not os.path.isdir(repo):
        url = os.environ.get("AIRLIB_REPOSITORY", "{url}")
        subprocess.run(["git", "clone", "--depth", "1", url, repo], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", repo], check=True)
    sys.path.insert(0, repo)
    os.environ.setdefault("MUJOCO_GL", "egl")
'''
HEADER_END = "# ---\n\n"        # the end of the jupytext header that opens every chapter


def url(root: Path = ROOT) -> str:
    """The repository's address: ``repository.url`` of ``_config.yml``."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    try:
        value = config["repository"]["url"]
    except (KeyError, TypeError):
        raise BookError(f"{root / '_config.yml'} has no repository.url") from None
    check_url(value)
    return value


def check_url(value) -> str:
    """``value`` if it is an http(s) address without spaces or quotes, else a BookError naming it."""
    if not isinstance(value, str) or not re.fullmatch(r"https?://[^\s\"'<>]+[^/\s\"'<>]", value):
        raise BookError(f"the repository URL must be an http(s) address without a trailing slash, got {value!r}")
    return value


def install_cell(address: str) -> str:
    """The install cell for a repository address, as jupytext percent source."""
    return INSTALL_CELL.format(tag=HIDE, url=address)


def copies(root: Path = ROOT) -> dict[Path, list[str]]:
    """Where a copy of the address lives, and what each holds: the README's clone links, each chapter's cell."""
    found = {root / "README.md": re.findall(r"git clone (\S+)", (root / "README.md").read_text())}
    for source in notebooks(root):
        found[source] = re.findall(r'os\.environ\.get\("AIRLIB_REPOSITORY", "([^"]*)"\)', source.read_text())
    return found


def stale(root: Path = ROOT) -> list[str]:
    """Every copy that differs from the setting, or a chapter whose first cell is not the install cell."""
    address, problems = url(root), []
    for path, values in copies(root).items():
        if values != [address] * max(1, len(values)):
            problems.append(f"{path.relative_to(root)} names {values or 'no repository'}, _config.yml {address}")
    for source in notebooks(root):
        text = source.read_text()
        head, _, body = text.partition(HEADER_END)
        if not body.startswith(install_cell(address)):
            problems.append(f"{source.relative_to(root)} does not open with the install cell "
                            "(python -m airlib repository writes it)")
    return problems


def set_url(address: str, root: Path = ROOT) -> list[Path]:
    """Writes ``address`` into ``_config.yml``, the README and every chapter's install cell (added if missing).

    Returns:
        The files it changed (the ``.ipynb`` twins are then stale: ``python -m airlib twins``).
    """
    check_url(address)
    old, changed = url(root), []
    config = root / "_config.yml"
    text = config.read_text()
    new = re.sub(r"(?m)^(repository:\s*\n\s+url:\s*)\S+", lambda m: m.group(1) + address, text, count=1)
    readme = root / "README.md"
    edits = [(config, text, new), (readme, readme.read_text(), readme.read_text().replace(old, address))]
    for source in notebooks(root):
        text = source.read_text()
        head, sep, body = text.partition(HEADER_END)
        if not sep:
            raise BookError(f"{source.relative_to(root)} has no jupytext header ending in '# ---'")
        for candidate in (install_cell(old), install_cell(address)):
            if body.startswith(candidate):
                body = body[len(candidate):].lstrip("\n")
        edits.append((source, text, head + sep + install_cell(address) + "\n" + body))
    for path, before, after in edits:
        if after != before:
            path.write_text(after)
            changed.append(path)
    return changed
