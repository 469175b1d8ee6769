"""Tests of airlib.scene3d (the three inference methods of Sec. III-A); the chapter itself runs under nbval (make test)."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from airlib import direct, scene3d
from airlib.render import OBJECTS
from airlib.render.likelihood import log_likelihood
from airlib import train as T

TINY = replace(scene3d.config("smoke"), steps=4, batch=4)


def test_network_outputs_a_categorical_and_a_gaussian_on_the_table():
    net = scene3d.SceneNet(hidden=32)
    logits, loc, scale = net(torch.rand(5, 3, 32, 32))
    assert logits.shape == (5, len(OBJECTS)) and loc.shape == scale.shape == (5, 3)
    assert (scale > 0).all()
    assert (loc[:, :2].abs() <= scene3d.SPEC.placement_half_width).all()


def test_rotation_error_is_modulo_the_symmetry():
    identity = torch.tensor([0, 0, 2, 2, 1])
    truth = torch.tensor([0.3, -3.0, 0.3, 3.0, 1.0])
    guess = torch.tensor([0.3 + math.pi / 2 + 0.1, -3.0 - math.pi - 0.05, 0.3 + math.pi / 2, -3.0,
                          2.0])
    err = scene3d.rotation_error(identity, truth, guess)
    expected = [0.1, 0.05, math.pi / 2, 2 * math.pi - 6.0]
    assert np.allclose(err[:4].numpy(), expected, atol=1e-5)
    assert math.isnan(err[4])  # the sphere has no orientation


def test_air_loss_sends_gradients_to_both_heads():
    torch.manual_seed(0)
    trainer = scene3d.ObjectAIR(TINY)
    _, _, images = scene3d.scenes(4, [0, 0])
    out = trainer.loss(images)
    assert torch.isfinite(out.loss) and out.elbo.shape == (4,)
    out.loss.backward()
    # the pose head learns through the renderer's finite differences, the type head through the
    # score function, the baseline by regression
    assert trainer.net.where.weight.grad[:3].abs().sum() > 0
    assert trainer.net.what[-1].weight.grad.abs().sum() > 0
    assert trainer.baseline.net[0].weight.grad.abs().sum() > 0


def _log_q_angle(theta, loc, scale, order):
    """log q(theta) on the circle, written out: the mixture of the Gaussian's m copies a turn / m apart,
    each wrapped (every copy j = k + m w, k = 0..m-1, w a number of whole turns), summed exactly."""
    j = torch.arange(-8 * 4, 8 * 4 + 1, dtype=torch.float64)[:, None]          # (J, 1)
    centres = loc.double()[None] + 2 * math.pi * j / order[None].double()    # (J, B)
    dens = torch.distributions.Normal(centres, scale.double()[None]).log_prob(theta.double()[None])
    return (torch.logsumexp(dens, 0) - order.double().log()).float()


@pytest.mark.parametrize("symmetric", [False, True])
def test_elbo_matches_its_definition(symmetric):
    """The ELBO the surrogate reports is log p(x|z) + log p(z) - log q(z|x) of the sampled z,
    recomputed here from the same random draws; with the symmetric angle, q(theta) is the mixture of
    the m copies, summed out in full."""
    trainer = scene3d.ObjectAIR(TINY, symmetric)
    _, _, images = scene3d.scenes(6, [0, 1])
    weights = (1.0, 0.3)  # the fine level part-way through its ramp
    torch.manual_seed(5)
    elbo = trainer.loss(images, weights=weights).elbo
    torch.manual_seed(5)
    x = scene3d.downsample(images, TINY.input_size)
    logits = trainer.net.type_logits(x)
    what = torch.distributions.Categorical(logits=logits).sample()
    loc, scale = trainer.net.pose(x, what)
    where = loc + scale * torch.randn(loc.shape)
    y = scene3d.shared_renderer().render_batch(what, scene3d.clamp_to_table(where).detach(), check=False)
    p = scene3d.SPEC.placement_half_width
    (wide, wide_stride), (narrow, narrow_stride) = TINY.levels
    log_lik = (log_likelihood(images, y, TINY.sigma_x, wide, wide_stride)
               + 0.3 * log_likelihood(images, y, TINY.sigma_x, narrow, narrow_stride))
    order = torch.tensor([4 if OBJECTS[w] == "cube" and symmetric else 1 for w in what.tolist()])
    log_q_where = (torch.distributions.Normal(loc[:, :2], scale[:, :2]).log_prob(where[:, :2]).sum(1)
                   + _log_q_angle(where[:, 2], loc[:, 2], scale[:, 2], order))
    expected = (log_lik - math.log(3)
                - 2 * math.log(2 * p) - math.log(2 * math.pi)
                - torch.log_softmax(logits, 1).gather(1, what[:, None])[:, 0]
                - log_q_where)
    assert torch.allclose(elbo, expected.detach(), rtol=1e-5)
    if symmetric:
        assert (what == OBJECTS.index("cube")).any()     # the mixture was exercised


def test_the_symmetric_angle_is_read_on_the_circle_of_m_theta():
    """AIR's network reads the cube's outputs as 4 theta: its mean angle lies within an eighth of a
    turn and its scale is a quarter; the cylinder's and sphere's are unchanged, and the supervised
    (non-symmetric) network reads the same outputs as theta for every type."""
    torch.manual_seed(0)
    sym = scene3d.SceneNet(hidden=32, symmetric=True)
    with torch.no_grad():            # angles all round the circle
        sym.where.weight[2:4] *= 100
        sym.where.bias[2:4] = 0
    plain = scene3d.SceneNet(hidden=32)
    plain.load_state_dict(sym.state_dict())
    x = torch.rand(64, 3, 32, 32)
    cube = torch.full((64,), OBJECTS.index("cube"))
    for other in ("cylinder", "sphere"):
        ident = torch.full((64,), OBJECTS.index(other))
        loc_c, scale_c = sym.pose(x, cube)
        loc_o, scale_o = sym.pose(x, ident)
        assert torch.allclose(loc_c[:, 2] * 4, loc_o[:, 2]) and torch.allclose(scale_c[:, 2] * 4, scale_o[:, 2])
        assert torch.equal(loc_c[:, :2], loc_o[:, :2]) and torch.equal(loc_o, plain.pose(x, ident)[0])
    assert loc_c[:, 2].abs().max() <= math.pi / 4 + 1e-6 and loc_o[:, 2].abs().max() > math.pi / 4
    assert torch.equal(plain.pose(x, cube)[0], plain.pose(x, ident)[0])


def test_fine_levels_are_switched_on_gradually():
    cfg = replace(TINY, fine_start=100, fine_ramp=50)
    assert scene3d.level_weights(cfg, 0) == (1.0, 0.0)
    assert scene3d.level_weights(cfg, 100) == (1.0, 0.0)
    assert scene3d.level_weights(cfg, 125) == (1.0, 0.5)
    assert scene3d.level_weights(cfg, 150) == scene3d.level_weights(cfg, 10_000) == (1.0, 1.0)


def test_likelihood_sees_rotation_and_keeps_the_wide_basin():
    """The model's likelihood loses many nats when the cube turns by 10 degrees (the wide level
    alone loses under one), and a cube guessed far from the observed one is still drawn towards it."""
    cfg = scene3d.config("paper")
    r = scene3d.shared_renderer()
    x = r.render_batch([0], torch.tensor([[0.1, -0.1, 0.3]]))
    turned = r.render_batch([0], torch.tensor([[0.1, -0.1, 0.3 + math.radians(10)]]))
    wide = (1.0, 0.0)
    assert (scene3d.log_likelihood(cfg, x, x) - scene3d.log_likelihood(cfg, x, turned)).item() > 50
    assert (scene3d.log_likelihood(cfg, x, x, wide) - scene3d.log_likelihood(cfg, x, turned, wide)).item() < 1
    # along a line from 30 cm away to the object, the full likelihood rises at every step
    path = torch.tensor([[0.1 - d, -0.1, 0.3] for d in np.linspace(0.3, 0.0, 7)])
    ll = scene3d.log_likelihood(cfg, x.expand(7, -1, -1, -1), r.render_batch([0] * 7, path))
    assert (ll.diff() > 0).all(), ll


def test_supervised_angle_error_is_taken_on_the_circle():
    """-log q of a true angle 1 degree across the +-pi cut equals that of one 1 degree away elsewhere."""
    torch.manual_seed(0)
    net = scene3d.SceneNet(hidden=32, input_size=32).eval()
    images = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        logits, loc, scale = net(images)
    ident = torch.zeros(1, dtype=torch.long)
    one = math.radians(1)
    near = scene3d.supervised_loss(net, images, ident, loc + torch.tensor([0, 0, one]), 32)
    across = scene3d.supervised_loss(net, images, ident, loc + torch.tensor([0, 0, one - 2 * math.pi]), 32)
    assert torch.isclose(near, across, rtol=1e-4)
    # beta-NLL: each pose component's negative log-density weighted by its variance ** beta
    pose = loc + torch.tensor([0.01, -0.02, 0.3])
    nll = -torch.distributions.Normal(loc, scale).log_prob(pose)
    ce = torch.nn.functional.cross_entropy(logits, ident)
    for beta in (0.0, 0.5, 1.0):
        expected = ce + (nll * scale ** (2 * beta)).sum()
        assert torch.isclose(scene3d.supervised_loss(net, images, ident, pose, 32, beta), expected, rtol=1e-5)
    assert torch.isclose(scene3d.wrap_angle(torch.tensor(3 * math.pi / 2)), torch.tensor(-math.pi / 2))


def test_angle_is_read_on_the_circle_with_a_capped_gradient():
    net = scene3d.SceneNet(hidden=32, input_size=32).eval()
    with torch.no_grad():
        net.where.weight.zero_()
        net.where.bias[2:4] = torch.tensor([-1e-3, 1e-3])  # (cos, sin) near the origin, at 135 degrees
    x = torch.rand(1, 3, 32, 32)
    _, loc, _ = net(x)
    assert math.isclose(loc[0, 2].item(), 3 * math.pi / 4, rel_tol=1e-5)
    loc[0, 2].backward()
    assert net.where.bias.grad[2:4].norm() <= 1 / scene3d.MIN_RADIUS + 1e-4  # not 1 / 1.4e-3


def test_direct_stability_counts_disagreeing_restarts():
    cfg = replace(TINY, direct_steps=4, direct_restarts=3)
    identity, pose, images = scene3d.scenes(2, [3, 4])
    out = direct.direct_stability(identity, pose, images, cfg, np.random.default_rng(0))
    assert out["identity"].shape == out["position_error"].shape == out["rotation_error_deg"].shape == (2, 3)
    assert 0 <= out["disagree"] <= 1 and 0 <= out["wrong_type"] <= 1
    assert out["wrong_type"] == (out["identity"] != identity[:, None]).float().mean().item()


def test_direct_optimisation_climbs_the_likelihood():
    cfg = replace(TINY, direct_steps=25)
    identity, pose, images = scene3d.scenes(1, [3, 3])
    guess, guess_pose, trace = direct.direct_optimise(images[0], cfg, np.random.default_rng(0))
    assert guess in range(3) and guess_pose.shape == (3,)
    assert trace[-5:].max() > trace[0]


def test_training_resumes_exactly(tmp_path):
    """A 3D run stopped after 2 steps and resumed ends with the weights of an uninterrupted run."""
    tiny = {"train.steps": 4, "train.batch": 4, "train.test_scenes": 4}
    full = T.train("3d-air", "smoke", 0, run_dir=tmp_path / "full", progress=False, overrides=tiny)
    T.train("3d-air", "smoke", 0, run_dir=tmp_path / "r", progress=False, overrides=tiny, stop_at=2)
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["step"] == 2
    resumed = T.train("3d-air", "smoke", 0, run_dir=tmp_path / "r", progress=False, overrides=tiny)
    for a, b in zip(full.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert resumed.record["history"][0]["step"] == 0


def test_3d_artifacts_round_trip_through_the_run_layer(tmp_path):
    import json
    import shutil
    from airlib import pretrained, runs
    run = T.train("3d-supervised", "smoke", 0, run_dir=tmp_path / "r", progress=False)
    with pytest.raises(runs.ArtifactError, match="python -m airlib train 3d-supervised"):
        pretrained.load_pretrained("3d-supervised", 0, directory=tmp_path / "arts")
    (tmp_path / "arts").mkdir()
    stem = runs.artifact_stem("3d-supervised", 0, tmp_path / "arts")
    shutil.copy(tmp_path / "r" / "model.safetensors", stem.with_suffix(".safetensors"))
    shutil.copy(tmp_path / "r" / "model.json", stem.with_suffix(".json"))
    loaded = pretrained.load_pretrained("3d-supervised", 0, directory=tmp_path / "arts")
    side = scene3d.config("smoke").input_size
    x = torch.rand(2, 3, side, side)
    net = run.model.eval()
    assert torch.allclose(loaded(x)[0], net(x)[0], atol=0.05)  # fp16 weights
    rec = json.loads(stem.with_suffix(".json").read_text())
    stem.with_suffix(".json").write_text(json.dumps(dict(rec, train_config=dict(rec["train_config"], steps=4))))
    with pytest.raises(runs.ArtifactError, match="train_config"):
        pretrained.load_pretrained("3d-supervised", 0, directory=tmp_path / "arts")


def _images(n=2, side=32):
    return torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("images,error,message", [
    (_images().index_put_((torch.tensor(0),), torch.tensor(float("nan"))), ValueError, "finite"),
    (_images().index_put_((torch.tensor(1),), torch.tensor(float("inf"))), ValueError, "finite"),
    (_images() * 255, ValueError, r"\[0, 1\].*0\.\.255"),
    (_images() - 0.5, ValueError, r"\[0, 1\]"),
    (_images().index_put_((torch.tensor(0),), torch.tensor(1 + 1e-6)), ValueError,
     r"1\.00000\d"),  # the true maximum, not a rounded 1
    (_images().permute(0, 2, 3, 1), ValueError, r"\(B, 3, H, H\).*\(2, 32, 32, 3\)"),
    (_images()[0], ValueError, r"\(B, 3, H, H\)"),
    (_images()[:, :1], ValueError, r"\(B, 3, H, H\)"),
    (_images(side=48), ValueError, "multiple of 32"),
    (_images(side=16), ValueError, "multiple of 32"),
    (torch.rand(2, 3, 32, 64), ValueError, r"\(B, 3, H, H\)"),
    ((_images() * 255).long(), TypeError, "uint8"),
    (_images() > 0.5, TypeError, "uint8"),
])
def test_infer_network_refuses_bad_images(images, error, message):
    net = scene3d.SceneNet(hidden=32)
    with pytest.raises(error, match=message):
        scene3d.infer_network(net, images)


def test_infer_network_reads_uint8_as_255ths_and_takes_an_empty_batch():
    torch.manual_seed(0)
    net = scene3d.SceneNet(hidden=32)
    with torch.no_grad():
        net.what[-1].weight.mul_(100)  # well-separated logits: the argmax does not hang on rounding
    raw = (_images(4, 128) * 255).round().to(torch.uint8)
    ident, pose = scene3d.infer_network(net, raw)
    expected = scene3d.infer_network(net, raw.float() / 255)
    assert torch.equal(ident, expected[0]) and torch.allclose(pose, expected[1])
    assert not torch.allclose(pose, scene3d.infer_network(net, raw.float() / 256)[1])
    assert torch.allclose(pose, scene3d.infer_network(net, raw.numpy())[1])  # arrays too
    assert net.training  # the caller's mode is restored
    for empty in (torch.zeros(0, 3, 128, 128), torch.zeros(0, 3, 32, 32, dtype=torch.uint8)):
        ident, pose = scene3d.infer_network(net, empty)
        assert ident.shape == (0,) and ident.dtype == torch.long and pose.shape == (0, 3)


def test_air_learning_rate_is_capped_once_the_narrow_levels_are_on():
    """Cosine decay to a tenth; AIR's is at most fine_lr from fine_start on, the supervised network's never."""
    from airlib.experiments.objects3d import AIR_3D, SUPERVISED_3D
    cfg = replace(scene3d.config("paper"), steps=1000, fine_start=200, fine_lr=0.3)
    cosine = lambda s: 0.1 + 0.45 * (1 + math.cos(math.pi * s / 1000))  # noqa: E731
    for step in (0, 199, 200, 500, 700, 999, 1000):
        want = min(cosine(step), 0.3) if step >= 200 else cosine(step)
        assert AIR_3D.lr_scale(cfg, step) == pytest.approx(want, rel=1e-12), step
        assert SUPERVISED_3D.lr_scale(cfg, step) == pytest.approx(cosine(step), rel=1e-12), step
    assert AIR_3D.lr_scale(cfg, 199) > 0.9 and AIR_3D.lr_scale(cfg, 200) == 0.3


def test_the_committed_comparison_is_refused_when_its_configuration_changed(monkeypatch):
    """The committed ``3d-results`` loads through the registry until scene3d's paper configuration changes; then
    loading it names the changed field and the command that redoes the comparison."""
    from airlib import evaluations, runs
    record, _ = evaluations.load("3d-results", "paper")
    cfg = scene3d.config("paper")
    assert record["train_config"]["direct_steps"] == cfg.direct_steps
    monkeypatch.setitem(scene3d.CONFIGS, "paper", replace(cfg, direct_steps=cfg.direct_steps + 1))
    with pytest.raises(runs.ArtifactError, match=f"direct_steps: {cfg.direct_steps} -> {cfg.direct_steps + 1}.*"
                                                 "python -m airlib evaluate 3d-results"):
        evaluations.load("3d-results", "paper")


# --- what chapter 5 reads from the study (airlib.evaluations.objects3d) -------------------------------------

def _history(accuracies, angles, start=1000, every=100):
    return [dict(step=start + every * i, identity_accuracy=a, rotation_error_deg=r)
            for i, (a, r) in enumerate(zip(accuracies, angles))]


def test_identity_dips_count_the_checks_below_the_threshold_and_the_longest_run():
    from airlib.evaluations import objects3d as study
    records = {0: {"history": _history([0.5, 1.0, 0.9, 0.97, 0.99, 0.5, 1.0], [0] * 7)},      # step 1000 is before
               1: {"history": _history([1.0] * 7, [0] * 7)}}
    dips = study.identity_dips(records, after=1100, below=0.98)
    assert dips["checks"] == 12 and dips["seeds"] == 2 and dips["seeds_dipping"] == 1
    assert sorted(dips["dips"]) == [(0.5, 0, 1500), (0.9, 0, 1200), (0.97, 0, 1300)]
    assert dips["lowest"] == (0.5, 0, 1500) and dips["longest"] == 2
    assert "lowest" not in study.identity_dips({1: records[1]}, after=1100)


def test_end_trend_compares_the_last_check_with_one_a_window_before():
    from airlib.evaluations import objects3d as study
    record = {"history": _history([1] * 6, [40, 30, 20, 12, 11, 10.5], start=0) + [dict(step=600, identity_accuracy=1)]}
    assert study.check_near(record, 260)["step"] == 300
    before, falling = study.end_trend(record, window=300, by=2.0)             # 500 vs 200: 10.5 < 20 - 2
    assert before["step"] == 200 and falling
    assert not study.end_trend(record, window=100, by=2.0)[1]                 # 500 vs 400: 10.5 > 11 - 2


def test_angle_state_and_the_seed_table_use_the_targets_and_chance():
    from airlib.evaluations import objects3d as study
    def metrics(cube, cyl):
        return {"identity_accuracy": 1.0, "position_error": 0.01, "reconstruction_mse": 1e-4,
                "per_type": {"cube": {"rotation_error_deg": cube}, "cylinder": {"rotation_error_deg": cyl}}}
    assert study.CHANCE_DEG == {"cube": 22.5, "cylinder": 90.0}
    assert [study.angle_state(metrics(c, 1), "cube") for c in (5, 5.1, 17.9, 18)] == [
        "learned", "partly", "partly", "chance"]
    assert study.angle_state(metrics(1, None), "cylinder") == "partly"       # no right-typed cylinder: NaN
    seeds = study.seed_table({3: dict(metrics=metrics(6, 2), wall_time_s=600),
                              1: dict(metrics=metrics(2, 9.9), wall_time_s=60)})
    assert list(seeds.index) == [1, 3] and seeds.loc[3, "minutes of training"] == 10
    assert study.on_targets(seeds).tolist() == [True, False]


def test_cube_angles_against_hand_placed_predictions():
    """Predictions a quarter turn off are in a true mode; predictions at the labels' mean are 45 degrees off."""
    from airlib.evaluations import objects3d as study
    identity = torch.tensor([0, 0, 0, 2])
    true = torch.tensor([10.0, 100.0, -170.0, 5.0])
    pose = torch.stack([torch.zeros(4), torch.zeros(4), torch.deg2rad(true)], 1)
    modes_mean = (true[:3] + 180) % 90 - 45
    air = pose.clone()
    air[:3, 2] = torch.deg2rad(true[:3] + torch.tensor([90.0, -180.0, 2.0]))
    sup = pose.clone()
    sup[:3, 2] = torch.deg2rad(modes_mean)
    inferred = {"inferred": {"air": (identity, air), "supervised": (identity, sup)}}
    out = study.cube_angles(inferred, identity, pose)
    assert np.allclose(out["modes_mean"], modes_mean.numpy())
    assert np.allclose(out["error"]["AIR"], [0, 0, 2], atol=1e-4)
    assert out["summary"]["AIR"]["within 5 deg of a true mode"] == 1.0
    assert out["summary"]["supervised"]["within 5 deg of the 4 labels' mean"] == 1.0
    assert out["summary"]["supervised"]["45 +- 5 deg off (mod 90)"] == 1.0


def test_the_comparison_table_formats_and_marks_what_does_not_apply():
    from airlib.evaluations import objects3d as study
    from airlib import evaluations
    record, _ = evaluations.load("3d-results", "paper")
    table = study.comparison_table(record["metrics"], {"air": 22.0, "supervised": 7.5})
    assert list(table.columns) == ["AIR", "supervised", "direct opt.", "AIR *", "supervised *"]
    assert table.loc["scenes", "AIR"] == f"{record['metrics']['air']['scenes']:.0f}"
    assert table.loc["s / image", "AIR *"] == "-" and table.loc["minutes of training", "direct opt."] == "-"
    assert table.loc["minutes of training", "supervised"] == "7.5"
    claims = study.claims(record["metrics"], study.seed_table({0: dict(metrics=record["metrics"]["air"],
                                                                       wall_time_s=600)}))
    assert len(claims) == 11 and claims.holds.dtype == bool
    assert not any("minutes" in label for label in claims.index)     # a cost is not a claim of the paper


def test_angle_check_prefers_the_true_angle_over_a_turned_one(monkeypatch):
    """With an inference that turns every object by 20 degrees, the cubes and cylinders are missed (the sphere
    has no angle) and the likelihood prefers the truth in each of them."""
    from airlib.evaluations import objects3d as study
    cfg = scene3d.config("smoke")
    identity = torch.tensor([0, 1, 2, 0])
    pose = torch.tensor([[0.1, 0.0, 0.3], [0.0, 0.1, 0.0], [-0.1, 0.0, 1.0], [0.0, -0.1, -0.5]])
    turned = pose.clone()
    turned[:, 2] += math.radians(20)
    monkeypatch.setattr(study.scene3d, "infer_network", lambda net, x, size: (identity[:len(x)], turned[:len(x)]))
    renderer = scene3d.shared_renderer(128, scene3d.SPEC)
    check = study.angle_check(None, cfg, identity, pose, renderer, scenes=300)
    assert check["scenes"] == 4 and check["missed"] == 3 and check["truth_wins"] == 1.0 and check["median_gain"] > 0
    monkeypatch.setattr(study.scene3d, "infer_network", lambda net, x, size: (identity[:len(x)], pose[:len(x)]))
    assert study.angle_check(None, cfg, identity, pose, renderer, scenes=2)["missed"] == 0


def test_the_likelihood_probes_find_the_truth_and_the_cubes_symmetry():
    from airlib.evaluations import objects3d as study
    cfg = scene3d.config("paper")
    renderer = scene3d.shared_renderer(128, scene3d.SPEC)
    maps = study.likelihood_basin(renderer, cfg, (0.1, 0.1, 0.3), points=5, half=0.2)     # grid: -0.2, -0.1, ..., 0.2
    assert [m.shape for m in maps.values()] == [(5, 5)] * 3
    assert all(m[1, 3] == 0 for m in maps.values())                           # the maximum is at the truth (+y up)
    drops = study.angle_drops(renderer, cfg, 1, np.random.default_rng(0), angles=np.array([45.0, 90.0]))
    assert set(drops) == {(o, n) for o in ("cube", "cylinder") for n in ("wide only", "pyramid")}
    cube = drops["cube", "pyramid"]
    assert cube[1] < 0.01 * cube[0]                                           # a quarter turn of a cube costs ~nothing
    assert drops["cylinder", "pyramid"][1] > drops["cylinder", "wide only"][1] > 0


def test_a_symmetric_supervised_network_takes_the_cube_angle_on_the_circle_of_m_theta():
    """With AIR's head, a cube's true angle and the same angle a quarter turn on are one label (the same loss);
    with the plain head they are not. A cylinder (order 2 if any) keeps its own period."""
    torch.manual_seed(0)
    images = torch.rand(2, 3, 32, 32)
    cube = torch.full((2,), scene3d.OBJECTS.index("cube"), dtype=torch.long)
    pose = torch.tensor([[0.01, -0.02, 0.3], [0.0, 0.05, -1.2]])
    quarter = torch.tensor([0.0, 0.0, math.pi / 2])
    for symmetric in (True, False):
        net = scene3d.SceneNet(hidden=32, input_size=32, symmetric=symmetric).eval()
        a, b = (scene3d.supervised_loss(net, images, cube, p, 32) for p in (pose, pose + quarter))
        assert torch.isclose(a, b, rtol=1e-5) == symmetric, symmetric
    net = scene3d.SceneNet(hidden=32, input_size=32, symmetric=True).eval()
    with torch.no_grad():
        _, loc, scale = net(images, cube)
    nll = -torch.distributions.Normal(loc, scale).log_prob(loc + torch.tensor([0.0, 0.0, 0.1]))
    far = loc + torch.tensor([0.0, 0.0, 0.1 + 3 * math.pi / 2])     # three quarter turns on: the same label
    ce = torch.nn.functional.cross_entropy(net(images, cube)[0], cube)
    assert torch.isclose(scene3d.supervised_loss(net, images, cube, far, 32), ce + nll.sum(1).mean(), rtol=1e-4)
    assert torch.isclose(scene3d.wrap_angle(torch.tensor(1.0), math.pi / 2), torch.tensor(1.0 - math.pi / 2))
