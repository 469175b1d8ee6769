"""AIR and DAIR: shapes, masking of the unary z_pres code, the ELBO's terms, the gradient estimator
against exact enumeration, deterministic inference and its input checks."""
import math
import re

import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

from airlib import estimators as est
from airlib.air import AIR, AIRConfig
from airlib.toy import check_mean

torch.set_num_threads(1)
SMALL = dict(lstm=32, embed=32, hidden=32, z_what=6)
# 8x8 images, two steps: every unary code (0, 1 or 2 objects) can be enumerated
TINY = dict(image_size=8, window=4, max_steps=2, lstm=4, embed=4, hidden=4, z_what=2,
            init_pres_logit=1.0)        # q(z_pres = 1) near 0.73: a sampler that swaps 0 and 1 is seen


@pytest.fixture(params=[False, True], ids=["AIR", "DAIR"])
def model(request):
    torch.manual_seed(0)
    return AIR(AIRConfig(difference=request.param, init_pres_logit=0.0, **SMALL))


def _images(b=16, seed=0, size=50):
    return torch.rand(b, size, size, generator=torch.Generator().manual_seed(seed))


def test_trace_shapes_and_masking(model):
    tr = model(_images(), sample=True, generator=torch.Generator().manual_seed(1))
    b, n, z = 16, 3, SMALL["z_what"]
    assert tr.z_pres.shape == tr.active.shape == tr.pres_logit.shape == tr.baseline.shape == (b, n)
    assert tr.z_where.shape == (b, n, 3) and tr.z_what.shape == (b, n, z)
    assert tr.partial.shape == (b, n, 50, 50) and tr.reconstruction.shape == (b, 50, 50)
    # Unary code: once a step is absent, every later one is, and `active` is the shifted product.
    assert torch.all(tr.z_pres[:, 1:] <= tr.z_pres[:, :-1])
    expected_active = torch.cat([torch.ones(b, 1), tr.z_pres[:, :-1]], 1)
    torch.testing.assert_close(tr.active, expected_active)
    assert 0 < tr.z_pres.sum() < b * n                       # logit 0: both outcomes occur


def test_absent_steps_do_not_draw_or_cost(model):
    x = _images()
    tr = model(x, sample=True, generator=torch.Generator().manual_seed(2))
    drawn = [(tr.partial[:, i + 1] - tr.partial[:, i]).abs().flatten(1).sum(1) for i in range(2)]
    for i in range(2):
        assert torch.all(drawn[i][tr.z_pres[:, i] == 0] == 0)
    t = model.elbo_terms(tr, x)
    assert torch.all(t["kl"][tr.z_pres == 0] == 0)
    assert torch.all(t["pres"][tr.active == 0] == 0) and torch.all(t["log_q_pres"][tr.active == 0] == 0)


def test_stop_value_is_the_signal_of_stopping(model):
    """stop_value[i] equals the learning signal of step i in a trace that stops at step i."""
    x = _images(8)
    tr = model(x, sample=True, generator=torch.Generator().manual_seed(3))
    stop = model.stop_value(tr, x)
    for i in range(3):
        z_pres = tr.z_pres.clone()
        z_pres[:, i:] = 0
        active = torch.cat([torch.ones(8, 1), z_pres[:, :-1]], 1)
        forced = tr._replace(z_pres=z_pres, active=active, reconstruction=tr.partial[:, i])
        t = model.elbo_terms(forced, x)
        signal_i = t["loglik"] + (t["pres"] - t["kl"])[:, i:].sum(1)
        keep = tr.active[:, i] > 0
        torch.testing.assert_close(stop[keep, i], signal_i[keep], rtol=1e-5, atol=1e-3)


def test_analytic_elbo_matches_sampled_log_weight():
    """E_q[log p(x,z,n) - log q(z,n|x)] (all terms sampled) = the ELBO with analytic KLs."""
    torch.manual_seed(0)
    model = AIR(AIRConfig(init_pres_logit=0.0, **SMALL))
    x = _images(1).expand(4000, 50, 50)
    tr = model(x, sample=True, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        analytic = model.elbo_terms(tr, x)["elbo"]
        sampled = model.log_weight(tr, x)
    se = (sampled - analytic).std() / math.sqrt(len(x))
    assert abs((sampled - analytic).mean()) < 4 * se + 1e-3


def test_presence_terms_are_the_truncated_geometric_prior_over_q(model):
    """pres + log q(z_pres) summed over steps = log p(n) = n log rho + [n < N] log(1 - rho), by hand."""
    rho, x = 0.3, _images(64)
    tr = model(x, sample=True, generator=torch.Generator().manual_seed(5))
    t = model.elbo_terms(tr, x, pres_prior=rho)
    n = tr.z_pres.sum(1)
    by_hand = n * math.log(rho) + (n < 3).float() * math.log(1 - rho)
    assert set(n.tolist()) == {0.0, 1.0, 2.0, 3.0}
    torch.testing.assert_close((t["pres"] + t["log_q_pres"]).sum(1), by_hand)
    q1 = torch.sigmoid(tr.pres_logit)
    log_q = (tr.active * torch.where(tr.z_pres > 0, q1, 1 - q1).log()).sum(1)
    torch.testing.assert_close(t["log_q_pres"].sum(1), log_q)


def test_loss_info_and_gradients(model):
    x = _images(8)
    loss, info = model.loss(x, 0.3, generator=torch.Generator().manual_seed(6))
    assert loss.dim() == 0 and info["elbo"].shape == (8,) and info["z_pres"].shape == (8, 3)
    assert not info["elbo"].requires_grad and not info["z_pres"].requires_grad
    again = model.elbo_terms(info["trace"], x, 0.3)["elbo"]
    torch.testing.assert_close(info["elbo"], again.detach())
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


# ------------------------------------------------------------------------------------------------
# The estimator against the exact gradient: enumerate the unary codes with the Gaussian noise fixed

N_IMAGES = 24           # distinct images, each with its own fixed noise
REPEATS = 4000          # independent gradient estimates (one z_pres sample per image each)
Z_MAX, P_MIN = 4.5, 1e-3  # as in test_estimators.py
CODES = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)   # n = 0, 1, 2
ACTIVE = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)  # steps that decide


def _fix_samplers(patch, noise=None, codes=None):
    """Makes AIR draw fixed Gaussian noise: the k-th ``normal_rsample`` of a forward pass (z_where^1,
    z_what^1, z_where^2, z_what^2) returns ``loc + scale * noise[k]``; with ``codes`` (rows, N),
    ``z_pres^i`` is ``codes[:, i]`` instead of a sample."""
    calls = {"normal": 0, "pres": 0}

    def rsample(loc, scale, generator=None):
        xi = noise[calls["normal"] % len(noise)]
        calls["normal"] += 1
        assert xi.shape == loc.shape
        return loc + scale * xi

    def presence(prev, probs=None, logits=None, generator=None):
        i = calls["pres"] % codes.shape[1]
        calls["pres"] += 1
        return codes[:, i] * prev

    if noise is not None:
        patch.setattr(est, "normal_rsample", rsample)
    if codes is not None:
        patch.setattr(est, "sample_presence_step", presence)


def _tiny_problem(difference):
    torch.manual_seed(1)
    model = AIR(AIRConfig(difference=difference, **TINY)).double()
    g = torch.Generator().manual_seed(2)
    x = torch.rand(N_IMAGES, 8, 8, dtype=torch.float64, generator=g)
    noise = [torch.randn(N_IMAGES, d, dtype=torch.float64, generator=g) for d in (3, 2, 3, 2)]
    params = {k: p for k, p in model.named_parameters() if not k.startswith("baseline.")}
    return model, x, noise, params


def _exact_elbo(model, x, noise, rho, monkeypatch):
    """Mean over the images of E_q(n | x, xi)[l], the three codes enumerated, every density from
    torch.distributions (independent of airlib.estimators)."""
    k = len(CODES)
    codes, active = CODES.repeat_interleave(len(x), 0), ACTIVE.repeat_interleave(len(x), 0)  # code-major
    with monkeypatch.context() as patch:
        _fix_samplers(patch, [xi.repeat(k, 1) for xi in noise], codes)
        tr = model(x.repeat(k, 1, 1), sample=True)
    cfg = model.config
    log_q = (active * Bernoulli(logits=tr.pres_logit).log_prob(codes)).sum(1)
    log_prior = (active * Bernoulli(probs=torch.tensor(rho, dtype=x.dtype)).log_prob(codes)).sum(1)
    loglik = Normal(tr.reconstruction, cfg.likelihood_sd).log_prob(x.repeat(k, 1, 1)).sum((1, 2))
    prior_where = Normal(torch.tensor([cfg.scale_prior[0], 0.0, 0.0], dtype=x.dtype),
                         torch.tensor([cfg.scale_prior[1], cfg.shift_prior_sd, cfg.shift_prior_sd],
                                      dtype=x.dtype))
    kl = (kl_divergence(Normal(tr.where_mean, tr.where_sd), prior_where).sum(-1)
          + kl_divergence(Normal(tr.what_mean, tr.what_sd), Normal(0.0, 1.0)).sum(-1))      # (rows, N)
    elbo = loglik - (codes * kl).sum(1) + log_prior - log_q                                 # l(n)
    return (log_q.exp() * elbo).view(k, len(x)).sum(0).mean(), log_q.exp().view(k, len(x))


def _per_row_gradients(model, run, names):
    """Runs ``loss = run()`` (a mean over rows) and returns its gradient for each row, (rows, P), in
    the order of ``names``: a Linear layer's weight gradient is the sum over its calls of
    outer(d loss / d output, input), so one backward pass gives every row's."""
    calls, handles, layers = [], [], {n.rsplit(".", 1)[0] for n in names}
    for name, module in model.named_modules():
        if name in layers:
            assert isinstance(module, nn.Linear), name
            hook = (lambda n: lambda m, inp, out: calls.append((n, inp[0].detach(), out)))(name)
            handles.append(module.register_forward_hook(hook))
    try:
        loss = run()
    finally:
        for h in handles:
            h.remove()
    rows = calls[0][1].shape[0]
    grads = torch.autograd.grad(loss * rows, [out for _, _, out in calls], allow_unused=True)
    per = {}
    for (name, inp, out), g in zip(calls, grads):
        g = torch.zeros_like(out) if g is None else g
        per[name + ".weight"] = per.get(name + ".weight", 0) + torch.einsum("bo,bi->boi", g, inp)
        per[name + ".bias"] = per.get(name + ".bias", 0) + g
    return torch.cat([per[n].flatten(1) for n in names], 1)


@pytest.mark.parametrize("difference", [False, True], ids=["AIR", "DAIR"])
def test_expected_surrogate_gradient_is_the_exact_gradient(difference, monkeypatch):
    """Every parameter: sum_n q(n | x) * (the estimate for code n) = the gradient of the enumerated
    ELBO, exactly (float64), with the Gaussian noise fixed. This is the estimator's expectation."""
    model, x, noise, params = _tiny_problem(difference)
    rho, k = 0.3, len(CODES)
    value, q_n = _exact_elbo(model, x, noise, rho, monkeypatch)
    exact = torch.cat([g.flatten() for g in torch.autograd.grad(value, list(params.values()))])
    with monkeypatch.context() as patch:
        _fix_samplers(patch, [xi.repeat(k, 1) for xi in noise], CODES.repeat_interleave(len(x), 0))
        per_row = _per_row_gradients(model, lambda: model.loss(x.repeat(k, 1, 1), rho)[0], list(params))
    expected = -(q_n.reshape(-1, 1) * per_row).view(k, len(x), -1).sum(0).mean(0)   # ascent direction
    torch.testing.assert_close(expected, exact, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("difference", [False, True], ids=["AIR", "DAIR"])
def test_monte_carlo_gradient_matches_exact_enumeration(difference, monkeypatch):
    """The mean of REPEATS sampled estimates (z_pres drawn by the model) of the gradient for the
    step head (presence logits: Eq. 7; z_where: Eq. 6) matches the enumerated ELBO's gradient, by
    Hotelling's T^2 and per-coordinate z-scores as for the toy model. (With the noise fixed, an
    image's estimate takes one of three values, so the samples span few directions of a large
    parameter vector: the test above checks every parameter's expectation exactly.)"""
    model, x, noise, params = _tiny_problem(difference)
    rho, names = 0.3, ["head.fc.weight", "head.fc.bias"]
    value, _ = _exact_elbo(model, x, noise, rho, monkeypatch)
    exact = torch.cat([g.flatten() for g in torch.autograd.grad(value, [params[n] for n in names])])
    gen = torch.Generator().manual_seed(3)
    with monkeypatch.context() as patch:
        _fix_samplers(patch, [xi.repeat(REPEATS, 1) for xi in noise])
        per_row = _per_row_gradients(model, lambda: model.loss(x.repeat(REPEATS, 1, 1), rho, gen)[0], names)
    samples = -per_row.view(REPEATS, len(x), -1).mean(1)                          # (REPEATS, P)
    check = check_mean(samples, exact)
    assert check.z.abs().max() < Z_MAX, check
    assert check.p_value > P_MIN, check


@pytest.mark.parametrize("difference", [False, True], ids=["AIR", "DAIR"])
def test_the_stop_value_baseline_silences_samples_that_stop(difference, monkeypatch):
    """With the learned part of the baseline at zero, a sample that stops at step 1 is credited
    signal - stop_value = 0, so the presence logits get no gradient; without the baseline they do."""
    model, x, _, _ = _tiny_problem(difference)
    with torch.no_grad():
        model.baseline.net[-1].weight.zero_()
        model.baseline.net[-1].bias.zero_()
    pres_row = lambda: torch.cat([model.head.fc.weight.grad[0], model.head.fc.bias.grad[:1]])
    with monkeypatch.context() as patch:
        _fix_samplers(patch, codes=torch.zeros(len(x), 2, dtype=x.dtype))
        model.loss(x, 0.3)[0].backward()
        silenced = pres_row().clone()
        model.zero_grad()
        patch.setattr(model, "stop_value", lambda *args: torch.zeros(len(x), 2, dtype=x.dtype))
        model.loss(x, 0.3)[0].backward()
        plain = pres_row()
    assert silenced.abs().max() < 1e-9 < 1e-3 < plain.abs().max()


# ------------------------------------------------------------------------------------------------
# Deterministic inference and its inputs


def _hand_set_head(model, pres_logit=None, scale=None):
    """Makes the step head output a constant presence logit and/or z_where scale mean."""
    with torch.no_grad():
        if pres_logit is not None:
            model.head.fc.weight[0].zero_()
            model.head.fc.bias[0] = pres_logit
        if scale is not None:
            model.head.fc.weight[1].zero_()
            model.head.fc.bias[1] = scale


@pytest.mark.parametrize("logit, count", [(2.0, 3), (0.1, 3), (-0.1, 0), (-2.0, 0)])
def test_deterministic_count_is_the_mode_of_q(model, logit, count):
    """z_pres^i = 1 iff q(z_pres^i = 1) > 1/2, i.e. iff the logit is positive."""
    _hand_set_head(model, pres_logit=logit)
    out = model.infer(_images(4))
    assert out.count.tolist() == [count] * 4
    assert out.z_pres.tolist() == [[1.0] * count + [0.0] * (3 - count)] * 4


@pytest.mark.parametrize("sample", [False, True])
def test_the_zoom_is_clamped_at_one_half(model, sample):
    """A window at most twice the image: scale means below 0.5 become 0.5, larger ones are kept."""
    for scale, expected in ((0.1, 0.5), (-3.0, 0.5), (1.3, 1.3)):
        _hand_set_head(model, scale=scale)
        with torch.no_grad():
            model.head.fc.bias[4:].fill_(-20.0)                  # sd = 1e-4: samples are the mean
        tr = model(_images(4), sample=sample, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(tr.z_where[..., 0], torch.full((4, 3), expected), atol=1e-3, rtol=0)


@pytest.mark.parametrize("difference", [False, True], ids=["AIR", "DAIR"])
def test_the_embedding_reads_the_image_or_the_error_canvas(difference):
    """AIR embeds x once; DAIR embeds x^i - x at every step, x^i the partial reconstruction."""
    torch.manual_seed(0)
    model = AIR(AIRConfig(difference=difference, init_pres_logit=2.0, **SMALL))
    seen = []
    model.embed.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach()))
    x = _images(4)
    tr = model(x, sample=False)
    assert tr.z_pres.sum() > 0                                   # objects drawn: x^i differs from 0
    expected = [(tr.partial[:, i] - x).flatten(1) for i in range(3)] if difference else [x.flatten(1)]
    assert len(seen) == len(expected)
    for got, want in zip(seen, expected):
        torch.testing.assert_close(got, want)


def test_uint8_images_are_divided_by_255():
    model = AIR(AIRConfig(**SMALL))
    pixels = torch.zeros(2, 50, 50, dtype=torch.uint8)
    pixels[0, 0, :3] = torch.tensor([51, 102, 255], dtype=torch.uint8)
    x = model.check_images(pixels)
    assert x.dtype == torch.float32
    assert x[0, 0, :3].tolist() == torch.tensor([0.2, 0.4, 1.0]).tolist() and x[1].sum() == 0
    model.eval()
    a, b = model.infer(pixels), model.infer(pixels.float() / 255)
    for f, u, v in zip(a._fields, a, b):
        assert torch.equal(u, v), f


def test_infer_outputs(model):
    model.eval()
    x = _images(5)
    out = model.infer(x)
    assert out.count.dtype == torch.int64 and out.count.shape == (5,)
    assert out.z_pres.shape == (5, 3) and out.z_where.shape == (5, 3, 3) and out.reconstruction.shape == (5, 50, 50)
    torch.testing.assert_close(out.count, out.z_pres.sum(1).long())
    again = model.infer(x)                                       # deterministic
    torch.testing.assert_close(again.reconstruction, out.reconstruction)


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_infer_on_an_empty_batch_returns_empty_results(model, dtype):
    out = model.infer(torch.zeros(0, 50, 50, dtype=dtype))
    assert out.count.shape == (0,) and out.count.dtype == torch.int64
    assert out.z_pres.shape == (0, 3) and out.z_where.shape == (0, 3, 3)
    assert out.z_what.shape == (0, 3, SMALL["z_what"]) and out.reconstruction.shape == (0, 50, 50)


def test_infer_works_in_chunks():
    """Large batches run in chunks (bounded memory) and give the unchunked result."""
    torch.manual_seed(0)
    model = AIR(AIRConfig(**{**TINY, "init_pres_logit": 0.5}))
    sizes = []
    model.register_forward_pre_hook(lambda m, args: sizes.append(args[0].shape[0]))
    x = _images(2003, size=8)
    whole = model.infer(x, chunk=5000)
    parts = model.infer(x, chunk=700)
    default = model.infer(x)
    assert sizes == [2003, 700, 700, 603, 1000, 1000, 3]
    assert torch.equal(parts.count, whole.count) and torch.equal(default.count, whole.count)
    for f, a, b in zip(whole._fields, whole, parts):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5, msg=f)
    with pytest.raises(ValueError, match="chunk"):
        model.infer(x, chunk=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("low, high", [(1e-6, 1 + 1e-6), (-1e-7, 0.5)])
def test_range_error_shows_the_values_exactly_enough(dtype, low, high):
    """The message's interval must itself lie outside [0, 1] (not "[1e-06, 1]")."""
    x = torch.full((1, 50, 50), 0.5, dtype=dtype)
    x[0, 0, 0], x[0, 0, 1] = low, high
    with pytest.raises(ValueError, match=r"\[0, 1\]") as info:
        AIR(AIRConfig(**SMALL)).infer(x)
    shown = re.search(r"got values in \[([^,]+), ([^\]]+)\]", str(info.value))
    lo, hi = float(shown.group(1)), float(shown.group(2))
    assert lo < 0 or hi > 1
    assert lo == pytest.approx(low, rel=1e-6) and hi == pytest.approx(high, rel=1e-6)


@pytest.mark.parametrize("bad, error, match", [
    (torch.rand(50, 50), ValueError, "shape"),
    (torch.rand(2, 28, 28), ValueError, "shape"),
    (torch.rand(2, 50, 50) * 255, ValueError, r"\[0, 1\]"),
    (torch.full((2, 50, 50), float("nan")), ValueError, "NaN"),
    (torch.zeros(2, 50, 50, dtype=torch.int64), TypeError, "dtype"),
    ([[0.0] * 50] * 50, TypeError, "torch.Tensor or numpy array"),
    (np.random.rand(50, 50), ValueError, "shape"),
    (np.full((2, 50, 50), 2.0), ValueError, r"\[0, 1\]"),
    (np.full((2, 50, 50), np.nan, dtype=np.float32), ValueError, "NaN"),
    (np.zeros((2, 50, 50), dtype=np.int64), TypeError, "dtype int64"),
    (np.zeros((2, 50, 50), dtype=bool), TypeError, "dtype bool"),
])
def test_infer_rejects_bad_input(bad, error, match):
    model = AIR(AIRConfig(**SMALL))
    with pytest.raises(error, match=match):
        model.infer(bad)


@pytest.mark.parametrize("dtype", ["float32", "float64", ">f4", "uint8", "read-only"])
def test_infer_takes_a_numpy_array_as_it_takes_the_tensor(dtype):
    """A numpy array gives the results of the same values as a tensor (same dtype rules): float in [0, 1]
    or uint8, in native or foreign byte order, writable or not."""
    model = AIR(AIRConfig(**SMALL)).eval()
    pixels = (_images(3) * 255).round()
    array = pixels.numpy().astype(np.uint8) if dtype == "uint8" else (pixels / 255).numpy()
    if dtype in ("float64", ">f4"):
        array = array.astype(dtype)
    if dtype == "read-only":
        array.flags.writeable = False
    got = model.infer(array)
    want = model.infer(torch.tensor(array.astype(array.dtype.newbyteorder("="))))
    for f, u, v in zip(got._fields, got, want):
        assert torch.equal(u, v), f
    assert got.reconstruction.dtype == torch.float32


def test_generate_shapes():
    model = AIR(AIRConfig(**SMALL))
    out = model.generate(7, generator=torch.Generator().manual_seed(0), pres_prior=0.5)
    assert out.shape == (7, 50, 50) and torch.all(out >= 0)


def test_prefix_loglik_is_the_likelihood_of_the_first_steps_canvas(model):
    """Against a second rendering: steps 1..i placed one by one with the spatial transformer."""
    from airlib import spatial
    x = _images(6)
    tr = model(x, sample=True, generator=torch.Generator().manual_seed(4))
    got = model.prefix_loglik(tr, x)                                   # (B, N - 1)
    cfg = model.config
    canvas = torch.zeros_like(x)
    for i in range(cfg.max_steps - 1):
        patch = model.decoder(tr.z_what[:, i]).view(-1, cfg.window, cfg.window)
        canvas = canvas + tr.z_pres[:, i, None, None] * spatial.place(patch, tr.z_where[:, i], cfg.image_size)
        want = Normal(canvas, cfg.likelihood_sd).log_prob(x).flatten(1).sum(1)
        torch.testing.assert_close(got[:, i], want, rtol=1e-5, atol=1e-3)
    assert got.shape == (6, cfg.max_steps - 1) and got.requires_grad


# ------------------------------------------------------------------------------------------------
# The Concrete estimator of presence (beyond the paper)

def test_relaxed_objective_on_binary_presence_is_the_elbo_with_expected_presence_terms(model):
    """On a binary z_pres sample, the relaxed objective is Eq. (5)'s l with each deciding step's
    log p(z_pres^i) - log q(z_pres^i) replaced by its expectation under q, -KL(q^i || p): against
    torch.distributions' Bernoulli KL."""
    x, rho = _images(8), 0.05
    tr = model(x, sample=True, generator=torch.Generator().manual_seed(2))
    t = model.elbo_terms(tr, x, rho)
    kl = kl_divergence(Bernoulli(logits=tr.pres_logit), Bernoulli(probs=torch.full_like(tr.pres_logit, rho)))
    want = t["loglik"] - t["kl"].sum(1) - (tr.active * kl).sum(1)
    torch.testing.assert_close(model.relaxed_objective(tr, x, rho), want, rtol=1e-5, atol=1e-3)


def test_concrete_presence_is_relaxed_in_training_and_binary_in_evaluation():
    torch.manual_seed(0)
    model = AIR(AIRConfig(presence_estimator="concrete", init_pres_logit=0.0, **SMALL))
    x = _images(8)
    tr = model(x, sample=True, generator=torch.Generator().manual_seed(1), relaxed=True)
    assert ((tr.z_pres > 0) & (tr.z_pres < 1)).all()                    # relaxed, not rounded
    assert (tr.z_pres[:, 1:] <= tr.z_pres[:, :-1]).all()                 # z_pres^i = z_pres^{i-1} y^i
    loss, info = model.loss(x, 0.3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(-loss, model.relaxed_objective(info["trace"], x, 0.3).mean())
    assert set(info["z_pres"].unique().tolist()) <= {0.0, 1.0}
    loss.backward()
    head = [p.grad for name, p in model.named_parameters() if name.startswith("head")]
    assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in head)   # pathwise
    assert all(p.grad is None for p in model.baseline.parameters())      # no score function, no baseline
    for sample in (False, True):                                          # evaluation and the ELBO stay binary
        z = model(x, sample=sample, generator=torch.Generator().manual_seed(3)).z_pres
        assert set(z.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("bad, match", [(dict(presence_estimator="gumbel"), "unknown presence_estimator 'gumbel'"),
                                        (dict(concrete_temperature=0.0), "concrete_temperature must be positive")])
def test_bad_presence_estimator_settings_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        AIR(AIRConfig(**bad, **SMALL))


def test_dair_without_memory_decides_each_step_from_its_error_canvas_alone():
    torch.manual_seed(0)
    x = _images(6)
    for memory in (False, True):
        torch.manual_seed(0)
        model = AIR(AIRConfig(difference=True, memory=memory, init_pres_logit=0.0, **SMALL))
        tr = model(x, sample=False)
        zeros = torch.zeros(len(x), SMALL["lstm"])
        for i in range(3):          # one LSTM step from a zero state, of x^i - x alone
            proj = model.core.project_image(model.embed((tr.partial[:, i] - x).flatten(1)))
            h, _ = model.core(proj, torch.zeros(len(x), 3 + SMALL["z_what"] + 1), zeros, zeros)
            logit, where_mean, _ = model.head(h)
            same = torch.allclose(logit, tr.pres_logit[:, i], atol=1e-6) and torch.allclose(
                where_mean, tr.where_mean[:, i], atol=1e-6)
            # with memory only step 1 (whose state is zero anyway) matches the memoryless reference
            assert same == (not memory or i == 0), (memory, i)


def test_air_without_memory_is_refused():
    with pytest.raises(ValueError, match="memory=False needs difference=True"):
        AIR(AIRConfig(difference=False, memory=False, **SMALL))


class _ScriptedAIR(nn.Module):
    """A stand-in whose steps draw fixed canvases: step 1 the left half of digit A, step 2 the rest of A,
    step 3 digit B (and nothing for the second image, which stops after step 1)."""

    def __init__(self, images):
        super().__init__()
        self.images = images

    def check_images(self, images):
        return images

    def forward(self, images, sample=True):
        from airlib.air import Trace
        a, b = torch.zeros_like(images), torch.zeros_like(images)
        a[:, 0:4, 0:2], b[:, 0:4, 0:4] = images[:, 0:4, 0:2], images[:, 0:4, 0:4]          # half A, all of A
        full = images.clone()
        partial = torch.stack([torch.zeros_like(images), a, b], 1)                       # before steps 1, 2, 3
        z_pres = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
        partial[1, 1:] = a[1]                                                            # image 2: only step 1 drew
        full[1] = a[1]
        n = torch.zeros(2, 3)
        return Trace(z_pres, n, n, n[..., None], n[..., None], n[..., None], n[..., None], n[..., None],
                     n[..., None], n, partial, full)


def test_coverage_by_step_says_which_digit_each_step_drew():
    from airlib.experiments.multi_mnist import coverage_by_step
    images = torch.zeros(2, 8, 8)
    images[:, 0:4, 0:4] = 1.0                                   # digit A, its ink box rows 0-3, cols 0-3
    images[:, 4:8, 4:8] = 0.5                                   # digit B
    boxes = torch.tensor([[[0, 0, 4, 4], [4, 4, 8, 8]]] * 2)
    count, cover = coverage_by_step(_ScriptedAIR(images), images, boxes)
    assert count.tolist() == [3, 1]
    torch.testing.assert_close(cover[0], torch.tensor([[0.5, 0.0], [1.0, 0.0], [1.0, 1.0]]))
    torch.testing.assert_close(cover[1], torch.tensor([[0.5, 0.0], [0.5, 0.0], [0.5, 0.0]]))
