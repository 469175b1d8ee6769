"""airlib: a reproducible companion to 'Attend, Infer, Repeat' (Eslami et al., 2016).

``import airlib`` stays light; the models load on first use: ``airlib.load_pretrained("air-multi-mnist")``.
"""
import os as _os

__version__ = "0.1.0"

if _os.environ.get("AIRLIB_FIGURE_CHECK"):      # the book build: check each figure as it is rendered
    from .figures.check import install as _install
    _install(_os.environ["AIRLIB_FIGURE_CHECK"])


def __getattr__(name):
    if name in ("load_pretrained", "load_or_train", "available_seeds"):
        from . import pretrained
        return getattr(pretrained, name)
    if name == "config":
        from .experiments import config
        return config
    raise AttributeError(f"module 'airlib' has no attribute {name!r}")
