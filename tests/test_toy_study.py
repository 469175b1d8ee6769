"""Chapter 1's recorded study (``toy-estimators``, airlib.evaluations.toy): its parts against known values, the
smoke study against a second path (calling airlib.toy directly), and its figures (airlib.figures.elbo): what
each draws."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from airlib import estimators as est  # noqa: E402
from airlib import evaluations, toy  # noqa: E402
from airlib.evaluations import toy as study  # noqa: E402
from airlib.figures import elbo as F  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ------------------------------------------------------------------ the study's parts

def test_count_kl_is_zero_at_the_posterior_and_log_2_for_a_certain_q_against_a_coin():
    p = torch.tensor([[0.5, 0.5, 1e-300], [0.2, 0.3, 0.5]], dtype=torch.float64)
    assert study.count_kl(p, p) == pytest.approx(0.0, abs=1e-12)
    q = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.3, 0.5]], dtype=torch.float64)
    assert study.count_kl(q, p) == pytest.approx(math.log(2) / 2)       # mean over the two pixels


def test_steps_used_is_the_share_of_pixels_whose_count_reaches_each_step():
    q = torch.eye(4, dtype=torch.float64)[[0, 2, 3, 3]]                  # counts 0, 2, 3, 3 with certainty
    assert study.steps_used(q).tolist() == [0.75, 0.75, 0.5]
    half = torch.tensor([[0.5, 0.0, 0.5, 0.0]], dtype=torch.float64)
    assert study.steps_used(half).tolist() == [0.5, 0.5, 0.0]


def test_variance_ratios_average_over_the_sample_sizes_both_estimators_have():
    rows = [dict(point="start", estimator=e, samples=s, **{"total variance": v, "presence variance": v / 2})
            for e, s, v in (("nvil", 1, 2.0), ("nvil", 4, 1.0), ("reinforce", 1, 8.0), ("reinforce", 4, 2.0),
                            ("vimco", 4, 0.5))]
    r = study.variance_ratios(rows, ("reinforce", "nvil", "vimco"), points=("start",))
    assert list(r) == ["total variance, start", "presence variance, start"]
    assert r["total variance, start"] == {"reinforce / nvil": 3.0, "vimco / nvil": 0.5}   # (4 + 2) / 2; 0.5 at K = 4
    assert r["presence variance, start"] == r["total variance, start"]


def test_frozen_statistics_are_a_copy_that_no_longer_updates():
    n = est.SignalNormaliser(3)
    n(torch.randn(16, 3, generator=torch.Generator().manual_seed(0)), torch.ones(16, 3))
    for scale in (False, True):
        f = study.frozen(n, scale)
        assert f.scale is scale and not f.training and torch.equal(f.mean, n.mean) and torch.equal(f.var, n.var)
        signal = torch.full((4, 3), 5.0)
        before = f.mean.clone()
        out = f(signal, torch.ones(4, 3))
        assert torch.equal(f.mean, before)
        assert torch.allclose(out, (signal - n.mean) / (n.var.sqrt().clamp(min=1) if scale else 1))


def test_fit_row_keeps_the_given_gap_and_scores_the_counts():
    p = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    row = study.fit_row(-3.0, 0.25, torch.tensor([[1.0, 0.0]], dtype=torch.float64), p)
    assert row == {"final ELBO": -3.0, "log p(x) - ELBO": 0.25, "KL[q(n|x) || p(n|x)]": pytest.approx(math.log(2))}


def test_the_data_are_the_seeded_toy_sample_the_study_config_names():
    cfg = toy.study("smoke")
    data = evaluations.get("toy-estimators").data("smoke")
    x, n = toy.Scene(rho=1.0).sample(cfg.data, torch.Generator().manual_seed(cfg.seed))
    assert torch.equal(data["x"], x) and torch.equal(data["n"], n) and len(x) == cfg.data


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    stem = tmp_path_factory.mktemp("toy") / "model"
    evaluations.evaluate("toy-estimators", "smoke", stem)
    return evaluations.runs.load_artifact(stem)


def test_the_smoke_study_records_what_calling_the_toy_directly_gives(smoke):
    record, tensors = smoke
    m, cfg, scene = record["metrics"], toy.study("smoke"), toy.Scene()
    assert record["command"] == "python -m airlib evaluate toy-estimators --profile smoke"
    assert record["model_config"] == {} and evaluations.check_record("toy-estimators", record) == []
    x = tensors["x"]
    params0 = toy.init_params(scene.N, cfg.seed, spread=0.3)
    best = toy.fit_exact(scene, x, params0, cfg.exact_steps, cfg.exact_iters, nodes=cfg.fit_nodes)
    log_px = scene.log_evidence(x)
    with torch.no_grad():
        gap = log_px - toy.exact(scene, best, x, nodes=cfg.nodes).elbo
    assert torch.allclose(tensors["gap.residual"], gap, rtol=1e-9)
    assert m["gap"]["residual"] == pytest.approx(float(gap.mean()))
    assert m["log_px"] == pytest.approx(float(log_px.mean()))
    f = toy.fit("local", scene, x, params0, cfg.fit_steps, samples=cfg.fit_samples, lr=cfg.lr,
                eval_every=cfg.eval_every, nodes=cfg.fit_nodes, seed=cfg.seed)
    assert m["fits"]["local"]["final ELBO"] == pytest.approx(f.elbo[-1], rel=1e-9)
    assert tensors["fit.local.elbo"].tolist() == pytest.approx(f.elbo, rel=1e-9)
    assert tensors["fit.local.steps"].tolist() == f.steps
    assert m["fits"]["local"]["KL[q(n|x) || p(n|x)]"] == pytest.approx(study.count_kl(f.q_n[-1], scene.posterior_n(x)))
    rho = cfg.rhos[-1]
    g = toy.fit("nvil", toy.Scene(rho=rho), x, params0, cfg.fit_steps, samples=cfg.fit_samples, lr=cfg.lr,
                eval_every=cfg.fit_steps, nodes=cfg.fit_nodes, seed=cfg.seed)
    rows = [r for r in m["occam"] if r["rho"] == rho]
    assert [r["learned q"] for r in rows] == pytest.approx(study.steps_used(g.q_n[-1]).tolist())
    assert [r["exact p"] for r in rows] == pytest.approx(study.steps_used(toy.Scene(rho=rho).posterior_n(x)).tolist())
    exact_iwae = toy.exact_gradient(scene, params0, x, K=study.K_CHECK, collapsed=True)
    assert torch.allclose(tensors["check.vimco.exact"], exact_iwae, rtol=1e-9)


def test_the_smoke_study_holds_every_check_and_curve_and_its_tables(smoke):
    record, tensors = smoke
    m, cfg = record["metrics"], toy.study("smoke")
    checks = study.checks(tensors)
    assert list(checks) == list(study.VARIANTS) == [r["estimator"] for r in m["checks"]]
    for row in m["checks"]:
        exact, mean, _, z = checks[row["estimator"]]
        assert row["|mean - exact| / |exact|"] == pytest.approx(float((mean - exact).norm() / exact.norm()))
        assert row["max |z|"] == pytest.approx(float(z.abs().max()))
        assert 0 <= row["p-value"] <= 1
    assert list(study.curves(tensors)) == list(toy.ESTIMATORS) == list(m["fit_seconds"])
    assert list(m["fits"]) == [*toy.ESTIMATORS, "exact-gradient fit"]
    assert len(m["variance"]) == 2 * (len(study.VARIANTS) * len(cfg.sample_sizes) - 1)   # VIMCO needs K >= 2
    assert len(m["occam"]) == len(cfg.rhos) * 3
    assert tensors["q_grid.nvil"].shape == (len(study.grid()), 4)
    assert torch.allclose(tensors["q_grid.nvil"].sum(1), torch.ones(len(study.grid()), dtype=torch.float64))
    z_pres = tensors["demo.z_pres"]
    assert z_pres.shape == (6, 3) and torch.equal(z_pres, est.unary(est.count(z_pres).long(), 3).to(z_pres.dtype))


def test_the_committed_study_loads_under_the_paper_profile():
    record, tensors = evaluations.load("toy-estimators", "paper")
    assert evaluations.check_record("toy-estimators", record) == []        # today's configuration and data
    assert len(tensors["x"]) == toy.study("paper").data and list(record["metrics"]["fits"])[-1] == "exact-gradient fit"


# ------------------------------------------------------------------ the figures

def test_model_draws_a_bump_per_count_their_sum_the_data_and_the_stacked_posterior():
    scene, grid, x = toy.Scene(), torch.linspace(-1, 8, 50, dtype=torch.float64), torch.tensor([0.1, 2.0, 4.5])
    fig = F.model(scene, x, grid)
    left, right = fig.axes
    lines = left.get_lines()
    assert len(lines) == scene.N + 1 + 2
    bumps = np.stack([line.get_ydata() for line in lines[:scene.N + 1]])
    assert np.allclose(lines[scene.N + 1].get_ydata(), bumps.sum(0))            # p(x) is the sum of the bumps
    assert np.allclose(np.exp(scene.log_evidence(grid).numpy()), bumps.sum(0))
    assert np.array_equal(lines[-1].get_xdata(), x.numpy())
    assert len(right.collections) == scene.N + 1 and right.get_ylim() == (0, 1)


def test_posterior_gaps_draws_each_count_for_both_networks_at_the_pixels():
    x, n = torch.tensor([0.0, 2.0, 4.0, 2.5]), torch.tensor([0, 1, 2, 1])
    residual, blind = torch.tensor([0.1, 0.2, 0.3, 0.4]), torch.tensor([0.5, 0.6, 0.7, 0.8])
    ax = F.posterior_gaps(x, n, residual, blind).axes[0]
    assert len(ax.collections) == 2 * 4 and ax.get_yscale() == "log"
    blind1, residual1 = ax.collections[2], ax.collections[3]                  # true n = 1: crosses, then circles
    assert np.allclose(residual1.get_offsets(), [[2.0, 0.2], [2.5, 0.4]])
    assert np.allclose(blind1.get_offsets(), [[2.0, 0.6], [2.5, 0.8]])


def test_unbiasedness_draws_a_panel_per_estimator_and_every_z():
    P = 18
    checks = {name: (torch.linspace(-1, 1, P), torch.linspace(-1, 1, P) + 0.01 * k, torch.full((P,), 0.1),
                     torch.full((P - k,), float(k))) for k, name in enumerate(("reinforce", "vimco"))}
    fig = F.unbiasedness(checks, repeats=123, k=4)
    assert len(fig.axes) == 8 and "123" in fig._suptitle.get_text()
    assert [fig.axes[i].get_title() for i in range(2)] == [F.LABELS["reinforce"], F.LABELS["vimco"]]
    errorbar = fig.axes[1].containers[0]
    assert np.allclose(errorbar.lines[0].get_ydata(), checks["vimco"][1].numpy())
    zs = fig.axes[2].collections[:2]
    assert [len(c.get_offsets()) for c in zs] == [P, P - 1]
    assert np.allclose(zs[1].get_offsets()[:, 1], 1.0)
    assert not fig.axes[3].has_data()


def test_variances_draws_one_line_per_estimator_at_each_point():
    rows = pd.DataFrame([dict(point=p, estimator=e, samples=s, **{"total variance": v * s ** -1.0})
                         for p, v in (("start", 4.0), ("best", 1.0)) for e in ("local", "nvil") for s in (1, 4)])
    fig = F.variances(rows, ("local", "nvil"), (1, 4))
    for ax, v in zip(fig.axes, (4.0, 1.0)):
        assert [line.get_label() for line in ax.get_lines()] == [F.LABELS["local"], F.LABELS["nvil"]]
        assert np.allclose(ax.get_lines()[0].get_ydata(), [v, v / 4]) and ax.get_xscale() == "log"


def test_training_draws_the_gap_and_the_count_kl_of_each_estimator_and_the_best_fit():
    curves = {"nvil": (torch.tensor([0, 10]), torch.tensor([-5.0, -4.0]), torch.tensor([1.0, 0.5]))}
    ax1, ax2 = F.training(curves, log_px=-3.0, best_gap=0.5).axes
    assert np.allclose(ax1.get_lines()[0].get_ydata(), [2.0, 1.0])
    assert np.allclose(ax1.get_lines()[1].get_ydata(), 0.5)                  # the exact-gradient fit
    assert np.allclose(ax2.get_lines()[0].get_ydata(), [1.0, 0.5]) and len(ax2.get_lines()) == 1


def test_learned_posterior_draws_the_exact_and_the_learned_q_of_each_count():
    scene, grid = toy.Scene(), torch.linspace(0, 6, 20, dtype=torch.float64)
    q = torch.full((20, 4), 0.25, dtype=torch.float64)
    ax = F.learned_posterior(scene, grid, q, torch.tensor([1.0, 3.0])).axes[0]
    lines = ax.get_lines()
    assert len(lines) == 2 * 4 + 1
    assert np.allclose(lines[0].get_ydata(), scene.posterior_n(grid)[:, 0].numpy())
    assert lines[1].get_linestyle() == "--" and np.allclose(lines[1].get_ydata(), 0.25)


def test_occam_draws_exact_and_learned_use_of_each_step_and_the_true_share():
    rows = pd.DataFrame([dict(rho=r, step=i, **{"learned q": r / i, "exact p": r / (i + 1)})
                         for r in (0.1, 1.0) for i in (1, 2, 3)])
    ax = F.occam(rows, torch.tensor([0, 1, 2, 3])).axes[0]
    lines = ax.get_lines()
    assert len(lines) == 3 * 3
    assert np.allclose(lines[1].get_ydata(), [0.1, 1.0]) and np.allclose(lines[0].get_ydata(), [0.05, 0.5])
    assert [line.get_ydata()[0] for line in lines[2::3]] == [0.75, 0.5, 0.25]    # n >= 1, 2, 3
