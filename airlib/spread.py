"""Spread over seeds, and the rule every verdict against a baseline uses: a difference counts only beyond noise.

A result over seeds is a mean with its standard error, ``sd / sqrt(k)``; one number beats another when its mean
is larger by more than :data:`WIN_SE` standard errors of the difference, ``sqrt(se_a^2 + se_b^2)``. Chapter 4's
wins (:mod:`airlib.claims`) and chapter 5's matched pairs (:mod:`airlib.evaluations.objects3d`) both read it.
"""
from __future__ import annotations

import numpy as np

WIN_SE = 2.0                            # a win: a mean above another by more than this many standard errors


def mean_se(values) -> tuple[float, float]:
    """The mean of ``values`` and its standard error, ``sd / sqrt(k)`` (``sd`` with ``k - 1``; 0 for one value)."""
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


def beyond_noise(a, b) -> bool:
    """Whether the mean of ``a`` is above that of ``b`` by more than :data:`WIN_SE` standard errors of the
    difference, ``sqrt(se_a^2 + se_b^2)``."""
    (ma, sa), (mb, sb) = mean_se(a), mean_se(b)
    return ma - mb > WIN_SE * float(np.hypot(sa, sb))
