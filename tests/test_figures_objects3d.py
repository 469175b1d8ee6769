"""The figures of chapter 5 (:mod:`airlib.figures.objects3d`) on small fake inputs shaped like the study's.

Each test builds what the chapter passes under the paper profile (through the same helpers of
:mod:`airlib.evaluations.objects3d`, with a stand-in renderer) and checks the Figure's axes and artists.
"""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from airlib.evaluations import objects3d as study  # noqa: E402
from airlib.figures import objects3d as figures  # noqa: E402
from airlib.render import OBJECTS  # noqa: E402

N = 12                     # fake held-out scenes (the paper profile's 1,000)
DIRECT = 8                 # of which direct optimisation solved the first (the paper's 200)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


class FakeRenderer:
    """Stands in for the MuJoCo renderer: an image whose red channel is the type, green the x position."""
    size = 128

    def render_batch(self, identity, pose, check=True):
        identity, pose = torch.as_tensor(identity), torch.as_tensor(pose)
        x = torch.zeros(len(identity), 3, self.size, self.size)       # (B, 3, H, W)
        x[:, 0] = (identity[:, None, None].float() + 1) / 3
        x[:, 1] = pose[:, None, None, 0].float() + 0.5
        return x

    def render(self, identity, pose, check=True):
        return (self.render_batch([identity], torch.tensor([pose]))[0].permute(1, 2, 0) * 255).byte().numpy()


def fake_study(seed=0):
    """Tensors shaped like the committed ``3d-results``'s: every scene's inference per method, the descents, the
    restarts; and the held-out truth they score."""
    g = torch.Generator().manual_seed(seed)
    identity = torch.tensor([0, 2, 1] * (N // 3))                             # (N,) cube, cylinder, sphere, ...
    pose = torch.cat([torch.rand(N, 2, generator=g) * 0.6 - 0.3, torch.rand(N, 1, generator=g) * 6 - 3], 1)  # (N, 3)
    tensors = {}
    for m, n in (("air", N), ("supervised", N), ("direct", DIRECT)):
        guess = identity[:n].clone()
        guess[1] = 0 if m == "direct" else guess[1]                           # direct optimisation mistypes one
        tensors[f"inferred.{m}.identity"] = guess
        tensors[f"inferred.{m}.pose"] = (pose[:n] + 0.05 * torch.randn(n, 3, generator=g)).half()
    tensors["direct_traces"] = -torch.rand(DIRECT, 60, generator=g).cumsum(1).flip(1) * 100       # (scenes, steps)
    tensors["stability.identity"] = identity[:4, None].repeat(1, 4).float()                       # (scenes, restarts)
    tensors["stability.position_error"] = torch.rand(4, 4, generator=g)
    tensors["stability.rotation_error_deg"] = torch.rand(4, 4, generator=g) * 30
    return identity, pose, study.figures(tensors)


def texts(ax):
    return [t.get_text() for t in ax.texts]


def test_data_set_shows_each_scene_and_the_networks_input():
    identity, pose, _ = fake_study()
    images = FakeRenderer().render_batch(identity[:8], pose[:8])
    fig = figures.data_set(identity[:8], pose[:8], images, 64)
    axes = np.array(fig.axes).reshape(2, 8)
    assert isinstance(fig, plt.Figure) and "Fig. 8a" in fig._suptitle.get_text()
    assert all(len(ax.images) == 1 for ax in axes.flat)
    assert axes[0, 0].get_title().startswith("cube\n(") and axes[0, 1].get_title().startswith("cylinder\n(")
    assert axes[1, 0].images[0].get_array().shape == (64, 64, 3)
    assert texts(axes[0, 0]) == ["128x128"] and texts(axes[1, 0]) == ["64x64 input"]


def test_likelihood_basin_draws_one_map_per_level_with_the_truth():
    maps = {name: torch.rand(15, 15) - 1 for name, _ in study.BASIN_LEVELS}
    fig = figures.likelihood_basin(maps, (0.2, 0.1))
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 3 and len(fig.axes) == 6                          # three maps and their colour bars
    for ax, name in zip(panels, maps):
        assert ax.get_title() == f"{name}\nlog p(x | cube at (x, y)) - max"
        assert ax.images[0].get_extent() == [-0.35, 0.35, -0.35, 0.35]
        (star,) = ax.lines
        assert tuple(star.get_xydata()[0]) == pytest.approx((0.2, 0.1))


def test_angle_drops_draws_both_likelihoods_per_object():
    drops = {(o, n): np.linspace(0.01, 100, len(study.ANGLES_DEG)) for o in ("cube", "cylinder")
             for n in ("wide only", "pyramid")}
    fig = figures.angle_drops(study.ANGLES_DEG, drops)
    assert [ax.get_title() for ax in fig.axes] == ["cube (symmetry: 90 degrees)", "cylinder (symmetry: 360 degrees)"]
    for ax in fig.axes:
        assert [line.get_label() for line in ax.lines[:2]] == ["wide only", "pyramid"]
        assert ax.lines[0].get_linestyle() == "--" and ax.lines[1].get_linestyle() == "-"
        assert ax.get_yscale() == "log" and ax.get_xscale() == "symlog"
        assert ax.lines[0].get_ydata().min() == pytest.approx(1e-2)           # drops floored for the log scale


def test_jacobian_shows_the_image_and_three_signed_columns():
    renderer = FakeRenderer()
    image = renderer.render(2, (0.0, 0.0, 0.5))
    jac = torch.randn(3, 3, 128, 128)                                         # (pose, rgb, H, W)
    fig = figures.jacobian(image, jac, "cylinder at (0, 0, 0.5)")
    assert [ax.get_title() for ax in fig.axes] == ["cylinder at (0, 0, 0.5)"] + [
        f"d y / d {v} (forward difference)" for v in ("x", "y", "theta")]
    assert all(ax.images[0].get_array().shape[:2] == (64, 64) for ax in fig.axes)   # the centre half
    for ax, j in zip(fig.axes[1:], jac):
        assert ax.images[0].get_cmap().name == "RdBu" and ax.images[0].get_clim()[1] == pytest.approx(j.abs().max())


def test_training_curves_plot_both_networks_and_the_switch():
    def history(m):
        return [dict(step=s, identity_accuracy=s / 100, position_error=1 / (s + 1), rotation_error_deg=30 - s / 10,
                     **({"train_elbo": -s} if m == "air" else {})) for s in range(0, 101, 10)]

    fig = figures.training_curves({m: history(m) for m in study.METHODS}, fine_start=60)
    assert len(fig.axes) == 4 and fig.axes[0].get_title() == "AIR: ELBO of training batches"
    assert len(fig.axes[0].lines) == 2                                        # AIR's ELBO and the switch
    for ax in fig.axes[1:]:
        assert [line.get_label() for line in ax.lines[:2]] == ["air", "supervised"]
        assert tuple(ax.lines[-1].get_xdata()) == (60, 60)                    # the dotted switch


def test_inferences_rerenders_each_method_and_marks_wrong_types():
    identity, pose, inferred = fake_study()
    sel = study.fig8_scenes(identity, DIRECT, dict(study.probe_config("paper").fig8_per_type))
    assert [OBJECTS[i] for i in identity[sel]] == ["cube"] * 3 + ["cylinder"] * 3 + ["sphere"] * 2
    rows = study.rerendered(FakeRenderer(), inferred, identity, pose, sel)
    fig = figures.inferences(rows, identity[sel])
    axes = np.array(fig.axes).reshape(4, len(sel))
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["(a) data", "(b) AIR", "(c) supervised", "(d) direct opt."]
    assert [ax.get_title() for ax in axes[0]] == [OBJECTS[i] for i in identity[sel]]
    assert all(ax.images[0].get_array().shape == (96, 96, 3) for ax in axes.flat)
    # direct optimisation typed scene 1 (a cylinder) as a cube: its label says so; spheres have no error
    wrong = sel.tolist().index(1)
    assert axes[3, wrong].get_xlabel().startswith("cube! ")
    assert axes[1, -1].get_xlabel() == "" and not math.isnan(float(axes[1, 0].get_xlabel()))


def test_cube_symmetry_scatters_each_network_and_histograms_the_error():
    identity, pose, inferred = fake_study()
    cubes = study.cube_angles(inferred, identity, pose)
    fig = figures.cube_symmetry(cubes["true_deg"], cubes["pred"], cubes["error"], cubes["modes_mean"])
    ax_air, ax_sup, ax_hist = fig.axes
    assert [ax_air.get_title(), ax_sup.get_title()] == ["AIR: cubes", "supervised: cubes"]
    n_cubes = int((identity == 0).sum())
    assert all(len(ax.collections[0].get_offsets()) == n_cubes for ax in (ax_air, ax_sup))
    assert ax_sup.lines[-1].get_color() == "red" and ax_sup.get_legend() is not None
    assert [p.get_label() for p in ax_hist.patches] == ["AIR", "supervised"]     # two step histograms
    assert ax_air.get_xlim() == (-180, 180) and ax_hist.get_xlabel() == "error modulo 90 degrees"


def test_stability_plots_every_restart_and_descent():
    _, _, inferred = fake_study()
    restarts = inferred["stability"]["rotation_error_deg"]                    # (scenes, restarts)
    fig = figures.stability(restarts, inferred["direct_traces"][:50], 30)
    left, right = fig.axes
    assert len(left.lines) == restarts.shape[1]
    assert left.get_title() == "direct optimisation, 4 random restarts per scene"
    assert len(right.lines) == DIRECT + 1 and right.get_yscale() == "symlog"   # one line per image, and the switch
    assert max(line.get_ydata().max() for line in right.lines[:-1]) == 0      # each descent relative to its best
