"""One surrogate for every model: the toy, AIR/DAIR, the 3D network and the table-top network all train
with ``estimators.elbo_surrogate``. Each model's loss is compared bit for bit (``torch.equal``: the loss,
the ELBO, every parameter's gradient and the normaliser's statistics, over two successive calls) against
a reference written out here from the estimators' primitives (``learning_signal``,
``score_function_surrogate``, ``baseline_loss``, ``SignalNormaliser``): the composition each model used
before it handed its terms to the one surrogate, with which its committed models were trained."""
import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from airlib import estimators as est
from airlib import scene3d, tabletop_scenes, toy
from airlib.air import AIR, AIRConfig
from airlib.render.likelihood import downsample, pyramid_log_likelihood
from airlib.render.tabletop import TabletopRenderer, render as render_table
from airlib.tabletop_air import TabletopAIR

torch.set_num_threads(1)
CALLS = 2   # the second call sees the normaliser's statistics of the first


def _assert_identical(new: torch.nn.Module, old: torch.nn.Module, new_out, old_out):
    """Loss and ELBO, then every gradient and buffer of two copies of a module, bit for bit."""
    for what, a, b in zip(("loss", "elbo"), new_out, old_out):
        assert torch.equal(a, b), what
    olds = dict(old.named_parameters())
    for name, p in new.named_parameters():
        assert (p.grad is None) == (olds[name].grad is None), name
        if p.grad is not None:
            assert torch.equal(p.grad, olds[name].grad), name
    old_buffers = dict(old.named_buffers())
    for name, b in new.named_buffers():
        assert torch.equal(b, old_buffers[name]), name


def _compare(module, new, old, seed_call):
    """Runs ``new`` on ``module`` and ``old`` on a copy, ``CALLS`` times, each pair from the same seeds."""
    twin = copy.deepcopy(module)
    for call in range(CALLS):
        outs = []
        for m, run in ((module, new), (twin, old)):
            m.zero_grad()
            seed_call(call)
            loss, elbo = run(m, call)
            loss.backward()
            outs.append((loss.detach(), elbo.detach()))
        _assert_identical(module, twin, *outs)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


# ------------------------------------------------------------------------------------------------
# The toy of chapter 1


class _Toy(torch.nn.Module):
    def __init__(self, scene):
        super().__init__()
        self.params = torch.nn.Parameter(toy.init_params(scene.N, 0, 0.5))
        self.net = est.BaselineMLP(2 + scene.N).to(toy.DTYPE)
        self.normaliser = est.SignalNormaliser(scene.N)


def _old_toy(estimator, scene, m, x, collapsed, generator):
    t = toy.trace(scene, m.params, x, collapsed=collapsed, generator=generator)
    baseline = m.net(t.features) if estimator in ("baseline", "nvil") else None
    elbo = t.log_lik + (t.step_terms * t.mask).sum(1)
    signal = est.learning_signal(t.log_lik, t.step_terms, t.mask, estimator != "reinforce")
    credited = signal if baseline is None else signal - baseline.detach()
    if estimator == "nvil":
        credited = m.normaliser(credited, t.mask)
    loss = -elbo.mean() + est.score_function_surrogate(t.log_q_pres, credited, t.mask)
    if baseline is not None:
        loss = loss + est.baseline_loss(baseline, signal, t.mask)
    return loss, elbo


@pytest.mark.parametrize("collapsed", [False, True])
@pytest.mark.parametrize("estimator", ["reinforce", "local", "baseline", "nvil"])
def test_the_toy(estimator, collapsed):
    scene = toy.Scene()
    x = scene.sample(32, torch.Generator().manual_seed(0))[0]
    torch.manual_seed(0)
    m = _Toy(scene)
    gens = {}

    def seed(call):
        gens["g"] = torch.Generator().manual_seed(10 + call)

    def new(m, call):
        s = toy.surrogate(estimator, scene, m.params, x, baseline_net=m.net, normaliser=m.normaliser,
                          collapsed=collapsed, generator=gens["g"])
        return s.loss, s.elbo

    _compare(m, new, lambda m, call: _old_toy(estimator, scene, m, x, collapsed, gens["g"]), seed)


# ------------------------------------------------------------------------------------------------
# AIR and DAIR on multi-MNIST: the exact stop value plus NVIL's network as the baseline, no normaliser,
# and a pathwise term without the direct gradient of -log q(z_pres)

RHO = 0.3


def _old_air(model, images, generator):
    images = model.check_images(images)
    trace = model(images, sample=True, generator=generator)
    t = model.elbo_terms(trace, images, RHO)
    mask = trace.active
    signal = est.learning_signal(t["loglik"], t["pres"] - t["kl"], mask)
    baseline = model.stop_value(trace, images, RHO).detach() + trace.baseline
    score = est.score_function_surrogate(t["log_q_pres"], signal - baseline.detach(), mask)
    pathwise = -(t["loglik"] - t["kl"].sum(1)).mean()
    return pathwise + score + est.baseline_loss(baseline, signal, mask), t["elbo"]


@pytest.mark.parametrize("difference", [False, True], ids=["AIR", "DAIR"])
def test_air(difference):
    torch.manual_seed(0)
    model = AIR(AIRConfig(difference=difference, init_pres_logit=0.0, lstm=32, embed=32, hidden=32, z_what=6))
    images = torch.rand(8, 50, 50, generator=torch.Generator().manual_seed(0))
    gens = {}

    def seed(call):
        gens["g"] = torch.Generator().manual_seed(20 + call)

    def new(m, call):
        loss, info = m.loss(images, RHO, generator=gens["g"])
        return loss, info["elbo"]

    _compare(model, new, lambda m, call: _old_air(m, images, gens["g"]), seed)


# ------------------------------------------------------------------------------------------------
# The 3D network (chapter 5): K = 1 normalises the signal before NVIL's baseline is fitted to it;
# K > 1 credits each sample against the mean of the other samples of its image, then normalises

TINY = replace(scene3d.config("smoke"), steps=4, batch=4)
WEIGHTS = (1.0, 0.3)


def _old_scene3d(trainer, images, learn_what):
    cfg, K = trainer.cfg, trainer.cfg.samples
    images = images.repeat_interleave(K, dim=0)
    x = downsample(images, cfg.input_size)
    logits = trainer.net.type_logits(x)
    if not learn_what:
        logits = logits.detach()
    what = torch.distributions.Categorical(logits=logits).sample()
    log_q_what = F.log_softmax(logits, 1).gather(1, what[:, None])
    loc, scale = trainer.net.pose(x, what)
    where = est.normal_rsample(loc, scale)
    log_q_where = est.normal_log_prob(where, loc, scale).sum(1)
    if trainer.net.symmetric:
        log_q_where = log_q_where - scene3d.ORDER.to(loc)[what].log()
    y = scene3d.render(what, scene3d.clamp_to_table(where), scene3d.shared_renderer(cfg.render_size, scene3d.SPEC),
                       eps=cfg.eps, check=False)
    log_lik = scene3d.log_likelihood(cfg, images, y, WEIGHTS)
    step = (scene3d.log_prior(what, where) - log_q_what[:, 0] - log_q_where)[:, None]
    mask = torch.ones_like(step)
    elbo = log_lik + step[:, 0]
    signal = est.learning_signal(log_lik, step, mask)
    if K == 1:
        centred = trainer.normaliser(signal, mask)
        baseline = trainer.baseline(x.flatten(1)[:, None])
        credited, extra = centred - baseline.detach(), est.baseline_loss(baseline, centred, mask)
    else:
        s = signal.view(-1, K)
        loo = (s.sum(1, keepdim=True) - s) / (K - 1)
        credited, extra = trainer.normaliser((s - loo).view(-1, 1), mask), 0.0
    score = est.score_function_surrogate(log_q_what, credited, mask) if learn_what else 0.0
    return -elbo.mean() + score + extra, elbo


@pytest.fixture(scope="module")
def scenes3d():
    return scene3d.scenes(4, [0, 0])[2]


@pytest.mark.parametrize("learn_what", [True, False], ids=["what", "warm-up"])
@pytest.mark.parametrize("symmetric", [False, True], ids=["plain", "symmetric"])
@pytest.mark.parametrize("samples", [1, 3])
def test_the_3d_network(scenes3d, samples, symmetric, learn_what):
    torch.manual_seed(0)
    trainer = scene3d.ObjectAIR(replace(TINY, samples=samples), symmetric)

    def new(m, call):
        s = m.loss(scenes3d, learn_what=learn_what, weights=WEIGHTS)
        return s.loss, s.elbo

    _compare(trainer, new, lambda m, call: _old_scene3d(m, scenes3d, learn_what),
             lambda call: torch.manual_seed(30 + call))


# ------------------------------------------------------------------------------------------------
# The table-top network (chapter 6): normalised before the baseline, a camera term outside every
# step's signal, and optionally another likelihood for the pathwise gradient

LEVELS, POSE_LEVELS, SIGMA_X = ((4.0, 2), (1.0, 1)), ((1.0, 1),), 0.1


def _old_tabletop(model, images, renderer, pose_levels, generator):
    q = model(images, sample=True, generator=generator, floor=0.1, renderer=renderer)
    kind = torch.where(q.present > 0, q.kind, torch.full_like(q.kind, -1))
    y = render_table(q.present > 0, kind, q.pose, q.camera, renderer, check=False)
    log_lik = pyramid_log_likelihood(images, y, SIGMA_X, LEVELS, (1.0, 0.5))
    mask = est.step_mask(q.present)
    elbo = log_lik + q.step_terms.sum(1) + q.camera_term
    signal = est.learning_signal(log_lik, q.step_terms, mask)
    centred = model.normaliser(signal, mask)
    baseline = model.baseline(q.baseline_features)
    score = est.score_function_surrogate(q.log_q_discrete, centred - baseline.detach(), mask)
    pathwise = elbo if pose_levels is None else \
        elbo - log_lik + pyramid_log_likelihood(images, y, SIGMA_X, pose_levels)
    return -pathwise.mean() + score + est.baseline_loss(baseline, centred, mask), elbo


@pytest.fixture(scope="module")
def table_renderer():
    with TabletopRenderer(128) as r:
        yield r


@pytest.mark.parametrize("pose_levels", [None, POSE_LEVELS], ids=["one-likelihood", "pose-levels"])
@pytest.mark.parametrize("moving_camera", [False, True], ids=["fixed", "moving"])
def test_the_tabletop_network(table_renderer, moving_camera, pose_levels):
    images = table_renderer.render_batch(*tabletop_scenes.sample_scenes(6, np.random.default_rng(2),
                                                                 moving_camera=moving_camera))
    torch.manual_seed(0)
    model = TabletopAIR(32, moving_camera=moving_camera)
    with torch.no_grad():
        model.heads.bias[0] = 1.0           # most steps find an object: every term is exercised
    gens = {}

    def seed(call):
        gens["g"] = torch.Generator().manual_seed(40 + call)

    def new(m, call):
        s, _ = m.loss(images, table_renderer, SIGMA_X, LEVELS, weights=(1.0, 0.5), generator=gens["g"],
                      floor=0.1, pose_levels=pose_levels)
        return s.loss, s.elbo

    _compare(model, new, lambda m, call: _old_tabletop(m, images, table_renderer, pose_levels, gens["g"]), seed)


def test_the_options_are_checked():
    z = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="normalise"):
        est.elbo_surrogate(z[:, 0], z, z, z + 1, normalise="never")
    with pytest.raises(ValueError, match="leave-one-out"):
        est.elbo_surrogate(z[:, 0], z, z, z + 1, baseline=z, samples=2)
    with pytest.raises(ValueError, match="groups of samples=3"):
        est.elbo_surrogate(z[:, 0], z, z, z + 1, samples=3)
    with pytest.raises(ValueError, match="shapes must match"):
        est.elbo_surrogate(z[:, 0], z, z, z + 1, discrete_terms=torch.zeros(4, 3))
