"""Benchmark of one training step of each table-top recipe (chapter 6): frames rendered, seconds, and the wall time
a whole network takes, against the committed records' measured wall times.

Run:  MUJOCO_GL=egl python benchmarks/tabletop_step.py   (on an idle machine: no training beside it)
Writes benchmarks/tabletop_step.json. ``--smoke``: one step of each recipe under the smoke profile, written
nowhere (``--out`` to keep it).

Each recipe runs its paper-profile training step (batch, loss, backward, Adam) through the run layer's own
experiment objects on one core, from a fresh network after a warm-up step; the frames are the renderer's own
count (the batch's images included). ``projected_minutes`` is steps x the median step; ``recorded_minutes`` the
committed records' wall times (each network trained on a loaded machine, beside another job).
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import torch  # noqa: E402

from airlib import experiments, runs  # noqa: E402
from airlib.experiments import tabletop as T  # noqa: E402
from airlib.pretrained import available_seeds  # noqa: E402
from _common import parser, save  # noqa: E402

OUT = Path(__file__).with_name("tabletop_step.json")
RECIPES = {"paper's recipe (ELBO), AIR": "tabletop-air", "paper's recipe (ELBO), DAIR": "tabletop-dair",
           "paper's recipe (ELBO), AIR, moving camera": "tabletop-air-camera",
           "sleep phase": "tabletop-air-sleep-type", "sleep phase, moving camera": "tabletop-air-sleep-type-camera",
           "wake + sleep (perturbed data)": "tabletop-air-wake-sleep-perturbed"}


def time_steps(name: str, steps: int, seed: int = 0, profile: str = "paper") -> dict:
    """Frames and seconds of ``steps`` training steps of one experiment (after one warm-up step), and the
    committed records' wall times (read as they are: a record made under another configuration still says
    how long it took)."""
    exp = experiments.get(name)
    model_cfg, cfg = experiments.config(name, profile)
    torch.manual_seed(seed)
    model = exp.build(model_cfg, cfg)
    opt = exp.optimiser(model, cfg)
    data = exp.data(profile)
    renderer = T.renderer(cfg.render_size)
    generator = torch.Generator().manual_seed(seed)
    seconds, frames = [], []
    for step in range(steps + 1):
        before, t = renderer.frames, time.perf_counter()
        batch = exp.batch(data, cfg, seed, step)
        loss, _ = exp.loss(model, batch, cfg, step, generator)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step:                                                    # step 0 warms up (shaders, allocations)
            seconds.append(time.perf_counter() - t)
            frames.append(renderer.frames - before)
    median = statistics.median(seconds)
    records = {s: runs.load_record(runs.artifact_stem(name, s)) for s in available_seeds(name)}
    return dict(experiment=name, steps_per_network=cfg.steps, frames_per_step=statistics.median(frames),
                seconds_per_step=median, projected_minutes=cfg.steps * median / 60,
                recorded_minutes={str(s): r["wall_time_s"] / 60 for s, r in sorted(records.items())})


def main(argv=None) -> dict:
    args = parser(__doc__, OUT).parse_args(argv)
    steps, profile = (1, "smoke") if args.smoke else (10, "paper")
    torch.set_num_threads(1)
    rows = {label: time_steps(name, steps, profile=profile) for label, name in RECIPES.items()}
    result = dict(machine=f"{platform.machine()}, {os.cpu_count()} cores", torch_threads=1, profile=profile,
                  timed_steps=steps, recipes=rows, load_average=os.getloadavg())
    return save(result, args, OUT)


if __name__ == "__main__":
    r = main()
    for label, row in r["recipes"].items():
        print(f"{label:45s} {row['frames_per_step']:6.0f} frames  {row['seconds_per_step']:.3f} s/step  "
              f"{row['projected_minutes']:5.1f} min projected")
