"""DRAW (ref. [6]): attention against a direct, loop-by-loop computation of its Eqs. 19-26, and the model's API."""
import math

import pytest
import torch

from airlib.draw import DRAW, DRAWConfig, filterbank, read, write


def direct_filterbank(p, n, height, width):
    """DRAW's Eqs. 19-26 written out pixel by pixel for one image (1-based pixel coordinates)."""
    gx_, gy_, log_var, log_delta, log_gamma = [float(v) for v in p]
    gx, gy = (width + 1) / 2 * (gx_ + 1), (height + 1) / 2 * (gy_ + 1)
    delta = (max(height, width) - 1) / (n - 1) * math.exp(log_delta)
    var = math.exp(log_var)
    fx = torch.zeros(n, width, dtype=torch.float64)
    fy = torch.zeros(n, height, dtype=torch.float64)
    for i in range(1, n + 1):
        mu_x = gx + (i - n / 2 - 0.5) * delta
        mu_y = gy + (i - n / 2 - 0.5) * delta
        for a in range(1, width + 1):
            fx[i - 1, a - 1] = math.exp(-(a - mu_x) ** 2 / (2 * var))
        for b in range(1, height + 1):
            fy[i - 1, b - 1] = math.exp(-(b - mu_y) ** 2 / (2 * var))
    fx /= fx.sum(1, keepdim=True)
    fy /= fy.sum(1, keepdim=True)
    return fx, fy, math.exp(log_gamma)


@pytest.mark.parametrize("params", [(0.0, 0.0, 0.0, 0.0, 0.0), (0.3, -0.5, 0.7, -1.0, 0.4), (-0.9, 0.8, -1.2, 0.3, -0.6)])
def test_attention_matches_direct_filterbank(params):
    torch.manual_seed(0)
    n, h, w = 3, 7, 9                        # a non-square image tells the axes apart
    p = torch.tensor([params], dtype=torch.float64)
    att = filterbank(p, n, h, w)
    fx, fy, gamma = direct_filterbank(params, n, h, w)
    torch.testing.assert_close(att.fx[0], fx)
    torch.testing.assert_close(att.fy[0], fy)
    image = torch.rand(1, h, w, dtype=torch.float64)
    glimpse = torch.zeros(n, n, dtype=torch.float64)          # gamma * sum_{b,a} F_Y[i,b] x[b,a] F_X[j,a]
    for i in range(n):
        for j in range(n):
            glimpse[i, j] = gamma * sum(fy[i, b] * image[0, b, a] * fx[j, a] for b in range(h) for a in range(w))
    torch.testing.assert_close(read(image, att)[0], glimpse)
    patch = torch.rand(1, n, n, dtype=torch.float64)
    canvas = torch.zeros(h, w, dtype=torch.float64)           # sum_{i,j} F_Y[i,b] w[i,j] F_X[j,a]
    for b in range(h):
        for a in range(w):
            canvas[b, a] = sum(fy[i, b] * patch[0, i, j] * fx[j, a] for i in range(n) for j in range(n))
    torch.testing.assert_close(write(patch, att)[0], canvas)


def test_centred_grid_covers_the_image_symmetrically():
    """g~ = 0, delta~ = 1: the filter centres run from pixel 1 to pixel A, mirror images of each other."""
    att = filterbank(torch.tensor([[0.0, 0.0, -4.0, 0.0, 0.0]]), 5, 9, 9)
    centres = (att.fx[0] * torch.arange(1, 10.0)).sum(1)
    torch.testing.assert_close(centres, torch.tensor([1.0, 3.0, 5.0, 7.0, 9.0]), atol=1e-3, rtol=0)
    torch.testing.assert_close(att.fx[0].flip(0, 1), att.fx[0])


def test_elbo_terms_and_encode():
    torch.manual_seed(0)
    model = DRAW(DRAWConfig(steps=3, enc=16, dec=16, z=2, image_size=12))
    x = torch.rand(4, 12, 12)
    tr = model(x, sample=False)
    terms = model.elbo_terms(tr, x)
    expect_ll = torch.distributions.Normal(torch.sigmoid(tr.canvas), 0.3).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(terms["loglik"], expect_ll)
    expect_kl = torch.distributions.kl_divergence(torch.distributions.Normal(tr.mean, tr.sd),
                                                  torch.distributions.Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(terms["kl"], expect_kl)
    assert model.encode(x).shape == (4, 3, 2)
    assert model.encode((x * 255).to(torch.uint8)).shape == (4, 3, 2)
    assert model.encode(x[:0]).shape == (0, 3, 2)
    with pytest.raises(ValueError, match="shape"):
        model.encode(torch.rand(4, 10, 10))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.encode(x * 2)


def test_canvas_accumulates_writes():
    """With the writes zeroed, c_T stays at c_0; the canvases along the way are monotone sums of writes."""
    model = DRAW(DRAWConfig(steps=4, enc=8, dec=8, z=2, image_size=10))
    with torch.no_grad():
        model.write_patch.weight.zero_()
        model.write_patch.bias.zero_()
    tr = model(torch.rand(2, 10, 10), sample=False, keep_canvases=True)
    torch.testing.assert_close(tr.canvas, torch.full((2, 10, 10), model.config.canvas_bias))
    assert tr.canvases.shape == (2, 4, 10, 10)
