"""Chapter 6's figures (airlib.figures.tabletop) on a few hand-made scenes: what each draws."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from airlib import tabletop_scenes  # noqa: E402
from airlib.experiments import tabletop as T  # noqa: E402
from airlib.figures import tabletop as F  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _scenes(n, seed, moving=False):
    return tabletop_scenes.sample_scenes(n, np.random.default_rng(seed), moving_camera=moving, spec=T.SPEC)


def test_sample_scenes_shows_each_row_and_the_first_row_downsampled():
    rows = [("repeat", _scenes(3, 0)), ("moving", _scenes(3, 1, moving=True))]
    fig = F.sample_scenes(rows, T.renderer(64), downsampled=32)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 3 * 3                                     # two rows and the downsampled one
    assert images[-1].images[0].get_array().shape[:2] == (32, 32)
    assert "camera" in fig.axes[3].get_title() and "camera" not in fig.axes[0].get_title()


def test_top_view_draws_the_table_each_true_object_and_each_inferred_one():
    truth, guess = _scenes(4, 2), _scenes(4, 3)
    fig, ax = plt.subplots()
    b = int(np.argmax(truth.present.sum(1)))
    F.top_view(ax, truth, guess, b, camera=True)
    assert len(ax.patches) == 1 + truth.present[b].sum() + guess.present[b].sum()
    assert [t.get_text() for t in ax.texts if t.get_text()] == [str(i + 1) for i in range(guess.present[b].sum())]
    assert sum(isinstance(t, matplotlib.text.Annotation) for t in ax.texts) == 2          # two camera arrows


def test_scenes_from_above_has_an_image_and_a_map_per_scene_and_a_key():
    truth, guess = _scenes(4, 4), _scenes(4, 5)
    fig = F.scenes_from_above([("AIR", truth, guess, [0, 1], False), ("DAIR", truth, guess, [2, 3], True)], T.renderer(64))
    assert sum(bool(ax.images) for ax in fig.axes) == 4
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["cup", "pan", "plate", "inferred (step)"]


def test_against_supervised_draws_three_bars_per_data_set_from_the_scores():
    networks = {k: dict(count_accuracy=v, reconstruction_error=v / 100) for k, v in
                (("a", 0.5), ("s", 0.2), ("t", 1.0), ("a2", 0.4), ("s2", 0.3), ("t2", 0.9))}
    fig = F.against_supervised(networks, [("repeat", "a", "s", "t"), ("once", "a2", "s2", "t2")])
    heights = sorted(round(p.get_height(), 6) for p in fig.axes[1].patches)
    assert heights == [0.2, 0.3, 0.4, 0.5, 0.9, 1.0]
    networks |= {"w": dict(count_accuracy=0.95, reconstruction_error=0.001), "w2": dict(count_accuracy=0.97,
                                                                                       reconstruction_error=0.002)}
    fig = F.against_supervised(networks, [("repeat", "a", "s", "t", "w"), ("once", "a2", "s2", "t2", "w2")],
                               who=("AIR", "naive", "by type", "sleep"))
    bars = fig.axes[1].patches
    assert sorted(round(p.get_height(), 6) for p in bars) == [0.2, 0.3, 0.4, 0.5, 0.9, 0.95, 0.97, 1.0]
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["AIR", "naive", "by type", "sleep"]
    lefts = sorted(p.get_x() for p in bars)
    assert all(b - a >= 0.2 - 1e-9 for a, b in zip(lefts, lefts[1:]))          # four bars side by side, none overlaid


def test_where_steps_look_tabulates_every_inferred_object_by_step_and_type():
    guesses = {"AIR": _scenes(30, 6), "DAIR": _scenes(30, 7)}
    fig, table = F.where_steps_look(guesses)
    assert len(fig.axes) == 2 * 2 * 3
    for net, g in guesses.items():
        assert table.loc[net].to_numpy().sum() == g.present.sum()
        assert table.loc[net].sum(axis=1).to_dict() == {i + 1: g.present[:, i].sum() for i in range(3) if g.present[:, i].any()}


def test_moving_camera_shows_the_data_and_each_inference_and_the_angle_errors():
    truth = _scenes(3, 8, moving=True)
    guess = tabletop_scenes.Scenes(truth.present, truth.kind, truth.pose, np.clip(truth.camera, -35, 35) + 5.0)
    truth = tabletop_scenes.Scenes(truth.present, truth.kind, truth.pose, guess.camera - 5.0)
    fig = F.moving_camera(truth, {"AIR": guess}, T.renderer(64), shown=3)
    assert sum(bool(ax.images) for ax in fig.axes) == 2 * 3
    hist = fig.axes[-1]
    assert hist.get_xlabel().startswith("inferred - true camera angle")
    assert sum(p.get_height() for p in hist.patches) == 3             # every scene's error, all at +5 degrees


def test_training_curves_and_image_rows():
    history = [dict(step=s, count_accuracy=s / 10, position_error=1 - s / 10) for s in range(3)]
    fig = F.training_curves({"AIR": dict(history=history), "supervised": dict(history=history)}, check_scenes=100)
    assert len(fig.axes[0].lines) == 2
    assert "100 held-out scenes" in fig.axes[0].get_ylabel()
    # every network of the chapter gets its own pair of colour and line style
    from airlib.evaluations.tabletop import NETWORKS
    fig = F.training_curves({label: dict(history=history) for label in NETWORKS}, check_scenes=100)
    styles = [(line.get_color(), line.get_linestyle()) for line in fig.axes[0].lines]
    assert len(set(styles)) == len(NETWORKS) == len(styles)
    assert F.curve_style("sleep phase (beyond the paper), moving camera") == ("C4", ":")
    assert F.curve_style("AIR") == ("C0", "-") and F.curve_style("supervised by type, each type once") == ("C3", "--")
    with pytest.raises(ValueError, match="no curve style for 'DRAW'"):
        F.curve_style("DRAW")
    images = T.renderer(64).render_batch(*_scenes(2, 9))
    fig = F.image_rows([("plain", images), ("again", images)])
    assert sum(bool(ax.images) for ax in fig.axes) == 4 and fig.axes[0].get_title(loc="left") == "plain"
