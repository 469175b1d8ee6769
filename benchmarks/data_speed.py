"""Benchmark: generating the paper's multi-MNIST sets (60,000 training + 10,000 test images) from scratch.

Run: .venv/bin/python benchmarks/data_speed.py   (writes benchmarks/data_speed.json)
"""
import json
import platform
import time
from pathlib import Path

import torch

from airlib.data import load_mnist, make_multi_mnist


def main():
    load_mnist("train"), load_mnist("test")  # the MNIST cache is not what is measured
    results = {}
    for counts in [(0, 1, 2), (0, 1, 3), (3,)]:
        times = []
        for repeat in range(3):
            start = time.perf_counter()
            make_multi_mnist(60000, counts, "train", seed=100 + repeat, cache=False)
            make_multi_mnist(10000, counts, "test", seed=100 + repeat, cache=False)
            times.append(time.perf_counter() - start)
        results["counts " + ",".join(map(str, counts))] = {"images": 70000, "best_s": round(min(times), 2),
                                                           "median_s": round(sorted(times)[1], 2)}
        print(counts, results["counts " + ",".join(map(str, counts))])
    record = {"benchmark": "multi-MNIST generation, 60k train + 10k test, no cache",
              "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
              "date": time.strftime("%Y-%m-%d"), "results": results}
    Path(__file__).with_name("data_speed.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
