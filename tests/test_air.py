"""AIR and DAIR: shapes, masking of the unary z_pres code, the ELBO's terms, input checks."""
import math

import pytest
import torch

from airlib.air import AIR, AIRConfig
from airlib.train import smoke_model

SMALL = dict(lstm=32, embed=32, hidden=32, z_what=6)


@pytest.fixture(params=[False, True], ids=["AIR", "DAIR"])
def model(request):
    torch.manual_seed(0)
    return AIR(AIRConfig(difference=request.param, init_pres_logit=0.0, **SMALL))


def _images(b=16, seed=0):
    return torch.rand(b, 50, 50, generator=torch.Generator().manual_seed(seed))


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
    assert torch.all(t["pres"][tr.active == 0] == 0)


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


def test_pres_prior_is_a_truncated_geometric():
    rho, n_max = 0.3, 3
    probs = []
    for n in range(n_max + 1):
        z = torch.tensor([[1.0] * n + [0.0] * (n_max - n)])
        active = torch.cat([torch.ones(1, 1), z[:, :-1]], 1)
        probs.append((active * AIR.pres_log_prior(z, rho)).sum().exp().item())
    expected = [rho ** n * (1 - rho) for n in range(n_max)] + [rho ** n_max]
    assert probs == pytest.approx(expected)


def test_infer_outputs(model):
    model.eval()
    x = _images(5)
    out = model.infer(x)
    assert out.count.dtype == torch.int64 and out.count.shape == (5,)
    assert out.z_pres.shape == (5, 3) and out.z_where.shape == (5, 3, 3) and out.reconstruction.shape == (5, 50, 50)
    torch.testing.assert_close(out.count, out.z_pres.sum(1).long())
    again = model.infer(x)                                       # deterministic
    torch.testing.assert_close(again.reconstruction, out.reconstruction)
    as_uint8 = (x * 255).round().to(torch.uint8)
    torch.testing.assert_close(model.infer(as_uint8).count, model.infer(as_uint8.float() / 255).count)


@pytest.mark.parametrize("bad, error, match", [
    (torch.rand(50, 50), ValueError, "shape"),
    (torch.rand(2, 28, 28), ValueError, "shape"),
    (torch.rand(2, 50, 50) * 255, ValueError, r"\[0, 1\]"),
    (torch.full((2, 50, 50), float("nan")), ValueError, "NaN"),
    (torch.zeros(2, 50, 50, dtype=torch.int64), TypeError, "dtype"),
    ([[0.0] * 50] * 50, TypeError, "torch.Tensor"),
])
def test_infer_rejects_bad_input(bad, error, match):
    model = AIR(smoke_model(False))
    with pytest.raises(error, match=match):
        model.infer(bad)


def test_generate_shapes():
    model = AIR(AIRConfig(**SMALL))
    out = model.generate(7, generator=torch.Generator().manual_seed(0), pres_prior=0.5)
    assert out.shape == (7, 50, 50) and torch.all(out >= 0)
