"""Benchmark: generating the paper's multi-MNIST sets (60,000 training + 10,000 test images) from scratch.

Run: .venv/bin/python benchmarks/data_speed.py   (writes benchmarks/data_speed.json)
``--smoke``: 300 + 100 images, once each, written nowhere (``--out`` to keep it).
"""
import json
import platform
import time
from pathlib import Path

import torch

from _common import parser, save
from airlib.data import load_mnist, make_multi_mnist

OUT = Path(__file__).with_name("data_speed.json")


def main(argv=None) -> dict:
    args = parser(__doc__, OUT).parse_args(argv)
    n_train, n_test, repeats = (300, 100, 1) if args.smoke else (60000, 10000, 3)
    load_mnist("train"), load_mnist("test")  # the MNIST cache is not what is measured
    results = {}
    for counts in [(0, 1, 2), (0, 1, 3), (3,)]:
        times = []
        for repeat in range(repeats):
            start = time.perf_counter()
            make_multi_mnist(n_train, counts, "train", seed=100 + repeat, cache=False)
            make_multi_mnist(n_test, counts, "test", seed=100 + repeat, cache=False)
            times.append(time.perf_counter() - start)
        results["counts " + ",".join(map(str, counts))] = {"images": n_train + n_test, "best_s": round(min(times), 2),
                                                           "median_s": round(sorted(times)[len(times) // 2], 2)}
        print(counts, results["counts " + ",".join(map(str, counts))])
    record = {"benchmark": f"multi-MNIST generation, {n_train} train + {n_test} test, no cache",
              "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
              "results": results}
    return save(record, args, OUT)


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
