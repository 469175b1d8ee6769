"""The build's figure check (airlib.figures.check) on hand-made figures: what it names, and what it lets pass."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from airlib.experiments import settings  # noqa: E402
from airlib.figures.check import figure_problems, install, read  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_an_empty_titled_panel_and_a_legend_on_the_data_are_named():
    fig, axes = plt.subplots(1, 3)
    fig.suptitle("Fig. 5")
    axes[0].set_title("AIR: 0 of 0 seeds")
    x = np.linspace(0, 1, 50)
    axes[1].plot(x, np.full_like(x, 0.95), label="flat")
    axes[1].legend(loc="upper left")
    axes[2].scatter(x, 1 - x, label="points")
    axes[2].legend(loc="lower right")
    problems = figure_problems(fig)
    assert problems[0] == "Fig. 5: 'AIR: 0 of 0 seeds' is empty (titled or with axes, nothing drawn)"
    assert any("the legend of 'panel 2' covers" in p for p in problems)
    assert any("the legend of 'panel 3' covers" in p for p in problems)   # on the scatter's last points
    assert len(problems) == 3, problems


def test_a_hidden_spare_panel_a_legend_beside_the_data_and_a_text_panel_pass():
    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    x = np.linspace(0, 1, 50)
    axes[0].plot(x, x, label="rising")
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))   # outside the panel
    axes[1].text(0.5, 0.5, "a diagram")
    axes[1].axis("off")
    axes[2].axis("off")                                            # a spare panel of a grid, hidden
    assert figure_problems(fig) == []


def test_install_records_problems_as_figures_are_rendered(tmp_path, monkeypatch):
    from matplotlib.backend_bases import FigureCanvasBase
    monkeypatch.setattr(FigureCanvasBase, "print_figure", FigureCanvasBase.print_figure)   # restored afterwards
    log = tmp_path / "figures.jsonl"
    install(log)
    install(log)                                                   # once only, however often called
    fig, ax = plt.subplots()
    ax.set_title("left empty")
    fig.savefig(tmp_path / "a.png")
    ok, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    ok.savefig(tmp_path / "b.png")
    assert read(log) == ["left empty: 'left empty' is empty (titled or with axes, nothing drawn)"]
    assert read(tmp_path / "none.jsonl") == []


def test_settings_is_a_table_not_a_repr():
    from airlib.air import AIRConfig
    table = settings({"model": AIRConfig()})
    assert table.loc[("model", "difference"), "value"] == "no"
    assert table.loc[("model", "scale_prior"), "value"] == "[2.2, 0.1]"
    assert table.index.names == ["part", "field"]
