"""Chapter 4's figures draw what the study holds: Fig. 7's means, their two-standard-error bands, the majority line,
and each chosen fit's validation curve with its best check."""
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
from airlib.figures import representations as figs  # noqa: E402

N = [10, 100]


def study():
    """A hand-made study: every representation's accuracy (0.5, 0.7) at 10 labels (mean 0.6, SE 0.1) and
    (0.8, 0.8) at 100; one fit curve per label count peaking at step 20."""
    task = {"n": N, "accuracy": [[0.5, 0.7], [0.8, 0.8]], "curve": [[[10, 0.3], [20, 0.6], [30, 0.5]]] * 2}
    return {**{rep: {"sum": task, "ascending": task} for rep in figs.NAMES},
            "majority": {"sum": 0.1, "ascending": 0.56}}


def test_fig7_draws_means_bands_and_the_majority_class():
    fig = figs.accuracy_bands(study())
    ax = fig.axes[0]
    air = next(line for line in ax.lines if line.get_label() == "AIR")
    assert list(air.get_xdata()) == N and np.allclose(air.get_ydata(), [0.6, 0.8])
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(0.4) and band.max() == pytest.approx(0.8)      # 0.6 -+ 2 x 0.1; 0.8 -+ 0
    majority = next(line for line in ax.lines if line.get_label() == "majority class")
    assert np.allclose(majority.get_ydata(), 0.1) and ax.get_xscale() == "log"


def test_stopping_curves_mark_the_best_check_and_skip_absent_counts():
    fig = figs.stopping_curves(study(), counts=(100, 1000))
    ax = fig.axes[0]
    curve = np.c_[ax.lines[0].get_xdata(), ax.lines[0].get_ydata()]
    assert [tuple(p) for p in curve] == [(10, 0.3), (20, 0.6), (30, 0.5)]
    assert (ax.lines[1].get_xdata()[0], ax.lines[1].get_ydata()[0]) == (20, 0.6)      # the best check's dot
    assert len(fig.axes[2].lines) == 0 and len(fig.legends) == 1                           # no 1,000-label fits here
