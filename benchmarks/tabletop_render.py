"""Benchmark of the table-top renderer (chapter 6): frames per second against raw MuJoCo, nine meshes loaded.

Run:  MUJOCO_GL=egl python benchmarks/tabletop_render.py   (on an idle machine: no training beside it)
Writes benchmarks/tabletop_render.json. ``--smoke``: three 32x32 scenes, one round, written nowhere (``--out`` to
keep it).

Raw MuJoCo draws the same model (table and nine crockery bodies) from the same camera, setting the
same mocap poses with no airlib code in the loop; ``TabletopRenderer.render`` adds the scene check,
the replica assignment and the camera; ``render_batch`` adds the conversion to a float tensor. The
target (issue 14): airlib at 80% or more of raw MuJoCo's speed. Rounds alternate between the three
so that a change in the machine's load affects all of them alike; the medians are recorded.
"""
from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from airlib import tabletop_scenes  # noqa: E402
from airlib.render.tabletop import KINDS, REPLICAS, TableSpec, TabletopRenderer, body_name, scene_xml  # noqa: E402
from _common import parser, save  # noqa: E402

OUT = Path(__file__).with_name("tabletop_render.json")


def raw_loop(size: int, scenes: tabletop_scenes.Scenes):
    """A function drawing every scene with plain MuJoCo, and its cleanup."""
    spec = TableSpec()
    model = mujoco.MjModel.from_xml_string(scene_xml(spec, size))
    data = mujoco.MjData(model)
    mocap = {(k, r): model.body(body_name(kind, r)).mocapid[0] for k, kind in enumerate(KINDS) for r in range(REPLICAS)}
    camera = mujoco.MjvCamera()
    camera.type = mujoco.mjtCamera.mjCAMERA_FREE
    camera.distance, camera.elevation = spec.distance, spec.elevation
    renderer = mujoco.Renderer(model, size, size)
    # the poses each scene needs, worked out before timing: the raw loop only copies them in
    plans = []
    for present, kind, pose, cam in zip(*scenes):
        used, slots = [0] * len(KINDS), []
        for i in np.flatnonzero(present):
            slots.append((mocap[(kind[i], used[kind[i]])], pose[i]))
            used[kind[i]] += 1
        plans.append((slots, spec.azimuth + float(cam)))

    def run():
        for slots, azimuth in plans:
            data.mocap_pos[:, 2] = -50.0
            for m, (x, y, theta) in slots:
                data.mocap_pos[m] = (x, y, 0.0)
                data.mocap_quat[m] = (math.cos(theta / 2), 0.0, 0.0, math.sin(theta / 2))
            mujoco.mj_kinematics(model, data)
            camera.azimuth = azimuth
            renderer.update_scene(data, camera=camera)
            renderer.render()
    return run, renderer.close


def main(argv=None) -> dict:
    args = parser(__doc__, OUT).parse_args(argv)
    size, scenes_per_round, rounds = (32, 3, 1) if args.smoke else (128, 200, 7)
    torch.set_num_threads(1)
    scenes = tabletop_scenes.sample_scenes(scenes_per_round, np.random.default_rng(0), repeats=True, moving_camera=True)
    raw, close = raw_loop(size, scenes)
    ours = TabletopRenderer(size)

    def single():
        for s in zip(*scenes):
            ours.render(*s)

    def batch():
        ours.render_batch(*scenes)
    fps = {"raw_mujoco": [], "render": [], "render_batch": []}
    for f in (raw, single, batch):
        f()                                             # warm up (first frames compile shaders)
    for _ in range(rounds):
        for name, f in (("raw_mujoco", raw), ("render", single), ("render_batch", batch)):
            t = time.perf_counter()
            f()
            fps[name].append(scenes_per_round / (time.perf_counter() - t))
    close()
    ours.close()
    median = {k: statistics.median(v) for k, v in fps.items()}
    result = dict(
        machine=f"{platform.machine()}, {os.cpu_count()} cores", mujoco=mujoco.__version__,
        MUJOCO_GL=os.environ["MUJOCO_GL"], size=size, meshes_loaded=len(KINDS) * REPLICAS,
        scenes=f"{scenes_per_round} scenes of Eq. (8) with repeats and the moving camera, {rounds} rounds",
        median_fps=median, all_fps=fps,
        render_vs_raw=median["render"] / median["raw_mujoco"],
        render_batch_vs_raw=median["render_batch"] / median["raw_mujoco"],
        load_average=os.getloadavg())
    return save(result, args, OUT)


if __name__ == "__main__":
    r = main()
    print(json.dumps({k: r[k] for k in ("median_fps", "render_vs_raw", "render_batch_vs_raw", "load_average")}, indent=1))
