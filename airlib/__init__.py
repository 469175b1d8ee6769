"""airlib: a reproducible companion to 'Attend, Infer, Repeat' (Eslami et al., 2016)."""
__version__ = "0.1.0"
