"""Benchmark of the blurred likelihood (chapters 5 and 6): the blur as matrix products against the
depthwise convolution it replaced, at a training step's shapes.

Run:  python benchmarks/likelihood_speed.py   (on an idle machine: no training beside it)
Writes benchmarks/likelihood_speed.json. ``--smoke``: two 64x64 images, two rounds, written nowhere (``--out``
to keep it).

One training step of ``3d-air`` scores 32 rendered 128x128 images against 32 observed ones under the
blur pyramid ((16 px, stride 4), (2 px, stride 1)) and back-propagates to the rendered images. Both
implementations do exactly that, one torch thread each (as training runs); rounds alternate between
them so that a change in the machine's load affects both alike; the medians are recorded. The
convolution is the implementation of airlib before the change (kept here, and in the tests as the
second implementation the matrix form is checked against).
"""
from __future__ import annotations

import json
import math
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from _common import parser, save
from airlib.render.likelihood import gaussian_kernel, pyramid_log_likelihood

OUT = Path(__file__).with_name("likelihood_speed.json")
LEVELS = ((16.0, 4), (2.0, 1))
SIGMA_X = 0.1


def conv_blur(images, sigma, stride):
    """The replaced implementation: replicate padding, then two depthwise convolutions."""
    k = gaussian_kernel(sigma)
    r, c = (k.numel() - 1) // 2, images.shape[1]
    out = F.pad(images, (r, r, r, r), mode="replicate")
    out = F.conv2d(out, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c, stride=(1, stride))
    return F.conv2d(out, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c, stride=(stride, 1))


def conv_pyramid(x, y):
    total = 0.0
    for sigma, stride in LEVELS:
        d = conv_blur(x, sigma, stride) - conv_blur(y, sigma, stride)
        total = total - 0.5 * d.pow(2).flatten(1).sum(1) / SIGMA_X**2 - 0.5 * d[0].numel() * math.log(2 * math.pi * SIGMA_X**2)
    return total


def step_seconds(fn, x, y) -> float:
    y = y.clone().requires_grad_(True)
    t = time.perf_counter()
    fn(x, y).sum().backward()
    return time.perf_counter() - t


def main(argv=None) -> dict:
    args = parser(__doc__, OUT).parse_args(argv)
    rounds, batch, size = (2, 2, 64) if args.smoke else (15, 32, 128)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(batch, 3, size, size, generator=g), torch.rand(batch, 3, size, size, generator=g)
    matrix = lambda a, b: pyramid_log_likelihood(a, b, SIGMA_X, LEVELS)  # noqa: E731
    assert torch.allclose(matrix(x, y), conv_pyramid(x, y), rtol=1e-5)          # the same function
    times = {"matrix": [], "convolution": []}
    for _ in range(rounds):
        times["matrix"].append(step_seconds(matrix, x, y))
        times["convolution"].append(step_seconds(conv_pyramid, x, y))
    med = {k: statistics.median(v[1:]) for k, v in times.items()}        # the first round warms up
    record = {"machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread", "torch": torch.__version__,
              "shapes": f"x, y: ({batch}, 3, {size}, {size}); levels {LEVELS}; forward and backward to y",
              "median_seconds": med, "speedup": med["convolution"] / med["matrix"], "all_seconds": times}
    return save(record, args, OUT)


if __name__ == "__main__":
    r = main()
    print(json.dumps({k: r[k] for k in ("median_seconds", "speedup")}, indent=1))
