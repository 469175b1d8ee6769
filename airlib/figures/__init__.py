"""Figures of the book's chapters that read recorded studies: one module per chapter (``tabletop``: chapter 6,
``objects3d``: chapter 5). Chapters 0-4 draw through :mod:`airlib.plotting`."""
