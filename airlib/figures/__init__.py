"""Figures of the book's chapters that read recorded studies: one module per chapter (``tabletop``: chapter 6,
``objects3d``: chapter 5, ``representations``: chapter 4). Chapters 0, 2 and 3 draw through :mod:`airlib.plotting`."""
