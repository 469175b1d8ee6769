"""airlib.plotting's curves over training: one colour per group, one line per seed, the groups named dashed drawn so."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from airlib import plotting  # noqa: E402


def _runs(n, value):
    return [[dict(step=s, acc=value + i / 10) for s in (0, 250, 500)] for i in range(n)]


def test_histories_draw_one_line_per_run_with_the_dashed_groups_dashed():
    fig, ax = plt.subplots()
    plotting.plot_histories(ax, {"paper": _runs(2, 0.1), "beyond": _runs(3, 0.5)}, "acc", "count accuracy", "t",
                            dashed={"beyond"})
    lines = ax.get_lines()
    assert [ln.get_linestyle() for ln in lines] == ["-", "-", "--", "--", "--"]
    assert len({ln.get_color() for ln in lines[:2]}) == 1 and lines[0].get_color() != lines[2].get_color()
    assert list(lines[3].get_ydata()) == pytest.approx([0.6] * 3)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["paper", "beyond"]
    plt.close(fig)
    fig, ax = plt.subplots()              # a group keeps the colour it is given, whatever else is plotted
    plotting.plot_histories(ax, {"beyond": _runs(1, 0.5)}, "acc", "y", "t", colours={"beyond": "red"})
    assert ax.get_lines()[0].get_color() == "red"
    plt.close(fig)


def test_dashing_a_group_that_is_not_plotted_is_refused_by_name():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="'gone'"):
        plotting.plot_histories(ax, {"paper": _runs(1, 0.1)}, "acc", "y", "t", dashed={"gone"})
    plt.close(fig)
