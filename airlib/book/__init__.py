"""The book tooling: jupytext ``.py`` notebooks -> papermill (with a profile) -> Jupyter Book 1 -> browser check.

- ``pipeline``: parameterise, execute with papermill (recording each chapter's profile), build with
  jupyter-book, post-process the site. Writes only git-ignored build output.
- ``check``: open every page in headless Chromium (script: ``checker.js``) and check what it shows.
- ``repository``: the repository's address (one setting) and the chapters' install cell.
- ``twins``: the ``notebooks/NN_*.ipynb`` twins of the ``.py`` chapters, written by ``python -m airlib twins``.
"""
from .check import check_site
from .common import HIDE, ROOT, BookError, notebooks, toc_files
from .pipeline import build, execute, executed_profile, parameterize, parameterize_all, plan
from . import repository
from .twins import stale_twins, twin_text, write_twins

__all__ = ["BookError", "HIDE", "ROOT", "build", "check_site", "execute", "executed_profile", "notebooks",
           "parameterize", "parameterize_all", "plan", "repository", "stale_twins", "toc_files", "twin_text", "write_twins"]
