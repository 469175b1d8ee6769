"""How close AIR's and DRAW's training steps come to the limit this machine's matrix multiplies set.

For each model, one training step (forward, backward, Adam; batch 64 of multi-MNIST-sized images, one thread):

  * its arithmetic: the floating-point operations of its matrix products, forward and backward, counted by
    ``torch.utils.flop_counter.FlopCounterMode`` (an independent count, not a formula of ours);
  * the machine's matrix-multiply throughput on one thread, measured at the shapes that dominate the step
    (DRAW's encoder gates ``(64, 306 + 256) @ (562, 1024)``; AIR's ``(64, 2500) @ (2500, 256)`` image
    embedding) and at a large square product (the machine's best case);
  * the step's median time, and the limit ``flops / throughput``: a step cannot run faster than its matrix
    products alone at the measured rate;
  * where the time goes (``torch.profiler``, self CPU time by operator): the share in matrix products, and the
    operators that take the rest.

A DRAW step performs many more operations than an AIR step (40 recurrent steps of two 256-unit LSTMs against
AIR's 3 steps), so its time should be compared with its own limit, not with AIR's step. Measured on 2026-12-03
(``step_limits.json``, idle machine): DRAW 13.7 GFLOP a step, 10.6 times AIR's 1.3, in 0.58 s against AIR's
0.063 s; each runs at about 3 times the time its matrix products alone would take at the measured 64-71 GFLOP/s,
and spends about half its time in them, the rest spread over many small element-wise operators (none above 5%).
So DRAW's step costs about nine AIR steps because it does ten times the arithmetic, not from overhead of its own.

Run: ``python benchmarks/step_limits.py`` on an idle machine (writes ``benchmarks/step_limits.json``);
``--smoke``: tiny models and batches, a few steps, written nowhere (``--out`` to keep it).
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from _common import median_seconds, parser, save
from airlib.air import AIR, AIRConfig
from airlib.draw import DRAW, DRAWConfig

OUT = Path(__file__).with_name("step_limits.json")
MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul", "aten::linear")


def gemm_gflops(m: int, k: int, n: int, seconds: float) -> float:
    """Single-thread float32 throughput of ``(m, k) @ (k, n)`` in GFLOP/s (2 m k n per product), median rate."""
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(3):
        a @ b
    times, t_end = [], time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(times) < 5:
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * m * k * n / sorted(times)[len(times) // 2] / 1e9


def step_fn(model, x):
    """One training step as the trainers take it: loss, backward, Adam."""
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    gen = torch.Generator().manual_seed(0)

    def step():
        loss = model.loss(x, 1e-5, gen)[0] if isinstance(model, AIR) else model.loss(x, gen)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def step_flops(step) -> int:
    """The matrix-product FLOPs of one step, forward and backward (FlopCounterMode)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def time_by_operator(step, repeats: int) -> tuple[float, dict[str, float]]:
    """Share of self CPU time in matrix products, and the five costliest other operators (share of the total)."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(repeats):
            step()
    self_us = Counter()
    for e in prof.key_averages():
        self_us[e.key] += e.self_cpu_time_total
    total = sum(self_us.values())
    matmul = sum(v for k, v in self_us.items() if k in MATMUL_OPS)
    others = Counter({k: v for k, v in self_us.items() if k not in MATMUL_OPS})
    return matmul / total, {k: round(v / total, 3) for k, v in others.most_common(5)}


def measure(name: str, model, x, gemm: float, smoke: bool) -> dict:
    step = step_fn(model, x)
    flops = step_flops(step)
    seconds = median_seconds(step, *((2, 1) if smoke else (20, 3)))
    share, others = time_by_operator(step, 1 if smoke else 5)
    limit = flops / (gemm * 1e9)
    print(f"{name}: {flops / 1e9:.2f} GFLOP/step, {seconds:.3f} s/step ({flops / seconds / 1e9:.1f} GFLOP/s); "
          f"limit at {gemm:.1f} GFLOP/s {limit:.3f} s ({seconds / limit:.1f}x); matrix products {share:.0%} of the "
          f"time", flush=True)
    return dict(gflop_per_step=round(flops / 1e9, 3), step_s=round(seconds, 4),
                achieved_gflops=round(flops / seconds / 1e9, 1), gemm_gflops_at_its_shape=round(gemm, 1),
                limit_s=round(limit, 4), step_over_limit=round(seconds / limit, 2),
                matmul_share_of_time=round(share, 3), other_top_operators=others)


def main(argv=None) -> dict:
    args = parser(__doc__, OUT).parse_args(argv)
    torch.set_num_threads(1)
    smoke = args.smoke
    batch = 8 if smoke else 64
    secs = 0.02 if smoke else 3.0
    gemm = {"square_1024": gemm_gflops(*((128,) * 3 if smoke else (1024,) * 3), secs),
            "draw_encoder_64x562x1024": gemm_gflops(batch, 562, 1024, secs),
            "air_embedding_64x2500x256": gemm_gflops(batch, 2500, 256, secs)}
    result = dict(benchmark=f"AIR and DRAW training steps (batch {batch}, one thread) against the matrix-multiply "
                            "limit",
                  machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                  load_average_at_start=os.getloadavg()[0], torch=torch.__version__,
                  gemm_gflops_one_thread={k: round(v, 1) for k, v in gemm.items()})
    print(json.dumps(result["gemm_gflops_one_thread"]), flush=True)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 50, 50, generator=g)
    torch.manual_seed(0)
    draw_cfg = DRAWConfig(steps=4, enc=32, dec=32, z=4) if smoke else DRAWConfig()
    result["draw"] = measure("DRAW", DRAW(draw_cfg), x, gemm["draw_encoder_64x562x1024"], smoke)
    air_cfg = AIRConfig(lstm=32, hidden=32, z_what=8) if smoke else AIRConfig()
    result["air"] = measure("AIR", AIR(air_cfg), x, gemm["air_embedding_64x2500x256"], smoke)
    result["draw_step_over_air_step"] = round(result["draw"]["step_s"] / result["air"]["step_s"], 1)
    result["draw_flops_over_air_flops"] = round(result["draw"]["gflop_per_step"] / result["air"]["gflop_per_step"], 1)
    return save(result, args, OUT)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
