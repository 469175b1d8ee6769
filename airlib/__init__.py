"""airlib: a reproducible companion to 'Attend, Infer, Repeat' (Eslami et al., 2016).

``import airlib`` stays light; the models load on first use: ``airlib.load_pretrained("air-multi-mnist")``.
"""
__version__ = "0.1.0"


def __getattr__(name):
    if name == "load_pretrained":
        from .pretrained import load_pretrained
        return load_pretrained
    raise AttributeError(f"module 'airlib' has no attribute {name!r}")
