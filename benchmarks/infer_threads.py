"""Single-image AIR inference latency by torch thread count, on this machine as it is (issue 9).

Run it on a busy machine (e.g. beside training jobs) and on a quiet one: with more threads than free
cores, OpenMP's threads wait for each other and the tail latency explodes; one thread does not wait.
``AIR.infer`` therefore uses one thread for batches under 256 images. Writes ``infer_threads.json``
(one entry per label). ``--smoke``: two inferences per thread count, written nowhere (``--out`` to keep it).
Usage: python benchmarks/infer_threads.py [--label busy|quiet]
"""
import json
import os
import platform
import time
from pathlib import Path

import torch

from _common import destination, parser, provenance
from airlib.air import AIR, AIRConfig

OUT = Path(__file__).with_name("infer_threads.json")


def latencies(model: AIR, x: torch.Tensor, threads: int, n: int = 400, warmup: int = 20) -> list[float]:
    """Seconds of ``n`` single-image inferences with ``threads`` torch threads, after ``warmup`` more."""
    out = []
    for i in range(n + warmup):
        t0 = time.perf_counter()
        model.infer(x[i % len(x)][None], threads=threads)
        if i >= warmup:
            out.append(time.perf_counter() - t0)
    return sorted(out)


def main(argv=None) -> dict:
    p = parser(__doc__, OUT)
    p.add_argument("--label", default="busy" if os.getloadavg()[0] > 1.5 else "quiet")
    args = p.parse_args(argv)
    sizes = dict(n=2, warmup=1) if args.smoke else {}
    torch.manual_seed(0)
    model = AIR(AIRConfig()).eval()
    x = torch.rand(64, 50, 50)
    result = dict(provenance(), smoke=args.smoke, load_average=os.getloadavg()[0], cores=os.cpu_count(),
                  torch=torch.__version__, machine=platform.processor() or platform.machine())
    for threads in (1, 2):
        t = latencies(model, x, threads, **sizes)
        result[f"threads_{threads}"] = dict(p50_ms=round(1e3 * t[len(t) // 2], 3), p95_ms=round(1e3 * t[int(0.95 * len(t))], 3),
                                            max_ms=round(1e3 * t[-1], 3))
    path = destination(args, OUT)
    if path is not None:
        recorded = json.loads(path.read_text()) if path.exists() else {}
        recorded[args.label] = result
        path.write_text(json.dumps(recorded, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
