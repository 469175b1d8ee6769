"""Benchmark of airlib.render: renders per second, finite-difference gradients, and which epsilon
gives an informative gradient.

Run:  MUJOCO_GL=egl python benchmarks/render.py [--quick]
Writes benchmarks/render_results.json (the numbers quoted in the chapter and the README). ``--smoke``: four
poses, two gradients, one scene per stage, written nowhere (``--out`` to keep it).

1. Speed: frames per second of ``Renderer.render`` at 128x128 and 32x32, against raw MuJoCo
   (``mujoco.Renderer`` drawing the same scene with the same pose updates, no airlib code), and
   of ``Renderer.render_batch`` (which adds the conversion to a float tensor); the time of one
   forward and one central finite-difference gradient of the likelihood of a scene.
2. Informativeness: for perturbed poses of random scenes, the finite-difference gradient of the
   log-likelihood the 3D experiment uses, at each stage of its coarse-to-fine schedule (the wide
   level alone, then wide + narrow: ``airlib.scene3d.STAGES``), at several epsilons (eps for x
   and y in metres, 3 eps for theta in radians), against an independent reference, a central
   difference (steps 3e-3 m, 1e-2 rad) on a 4x supersampled renderer (512x512 area-averaged to
   128x128).
"""
from __future__ import annotations

import math
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from airlib.render import OBJECTS, Renderer, sample_scenes  # noqa: E402
from airlib.render.gradient import render  # noqa: E402
from airlib.render.likelihood import pyramid_log_likelihood  # noqa: E402
from airlib.render.scene import FIRST_GROUP, SceneSpec, scene_xml  # noqa: E402

from airlib.scene3d import STAGES, config  # noqa: E402
from _common import parser, save  # noqa: E402

OUT = Path(__file__).with_name("render_results.json")

SIGMA_X = config("paper").sigma_x


def raw_fps(size: int, poses: np.ndarray, repeats: int) -> float:
    """Frames per second of plain MuJoCo drawing the cube at ``poses`` (same model and options)."""
    spec = SceneSpec()
    model = mujoco.MjModel.from_xml_string(scene_xml(spec, size))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    option = mujoco.MjvOption()
    option.geomgroup[:] = 0
    option.geomgroup[0] = option.geomgroup[FIRST_GROUP] = 1
    renderer = mujoco.Renderer(model, size, size)
    try:
        renderer.update_scene(data, camera="camera", scene_option=option)
        renderer.render()
        t = time.perf_counter()
        for _ in range(repeats):
            for x, y, th in poses:
                data.mocap_pos[0] = (x, y, spec.object_half_size)
                data.mocap_quat[0] = (math.cos(th / 2), 0, 0, math.sin(th / 2))
                mujoco.mj_kinematics(model, data)
                renderer.update_scene(data, camera="camera", scene_option=option)
                renderer.render()
        return repeats * len(poses) / (time.perf_counter() - t)
    finally:
        renderer.close()


def airlib_fps(size: int, poses: np.ndarray, repeats: int) -> tuple[float, float]:
    """Frames per second of Renderer.render (uint8) and of render_batch (float tensor)."""
    with Renderer(size) as r:
        r.render(0, poses[0])
        t = time.perf_counter()
        for _ in range(repeats):
            for p in poses:
                r.render(0, p)
        fps = repeats * len(poses) / (time.perf_counter() - t)
        ident = np.zeros(len(poses), np.int64)
        t = time.perf_counter()
        for _ in range(repeats):
            r.render_batch(ident, poses)
        fps_batch = repeats * len(poses) / (time.perf_counter() - t)
    return fps, fps_batch


def gradient_time(poses: np.ndarray, scheme: str, eps, levels) -> float:
    """Seconds for one scene's rendered likelihood and its finite-difference gradient."""
    with Renderer(128) as r:
        ident = torch.zeros(1, dtype=torch.long)
        x = r.render_batch(ident, poses[:1])
        t = time.perf_counter()
        for p in poses:
            pose = torch.tensor(p[None], requires_grad=True)
            y = render(ident, pose, r, eps=eps, scheme=scheme)
            pyramid_log_likelihood(x, y, SIGMA_X, levels).sum().backward()
        return (time.perf_counter() - t) / len(poses)


def informativeness(n: int, levels, seed: int = 0) -> list[dict]:
    """Agreement of finite-difference gradients of one likelihood (``levels``) with a supersampled reference."""
    rng = np.random.default_rng(seed)
    spec = SceneSpec()
    ident, pose = sample_scenes(n, spec, rng)
    pose[:, :2] = np.clip(pose[:, :2], -0.32, 0.32)
    off = pose + rng.normal(0, 1, pose.shape).astype(np.float32) * np.float32([0.03, 0.03, 0.15])
    off[:, :2] = np.clip(off[:, :2], -0.33, 0.33)
    rows = []
    with Renderer(128) as r, Renderer(512) as big:
        x = r.render_batch(ident, pose)

        def ll_ref(i, p):
            y = F.interpolate(big.render_batch([ident[i]], p[None], check=False), size=(128, 128),
                              mode="area")
            return pyramid_log_likelihood(x[i:i + 1], y, SIGMA_X, levels).item()

        ref = np.zeros((n, 3))
        steps = (3e-3, 3e-3, 1e-2)
        for i in range(n):
            for k in range(3):
                e = np.zeros(3)
                e[k] = steps[k]
                ref[i, k] = (ll_ref(i, off[i] + e) - ll_ref(i, off[i] - e)) / (2 * steps[k])
        rotating = ident != OBJECTS.index("sphere")  # a sphere's theta gradient is zero
        for eps in (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2):
            for scheme in ("forward", "central"):
                p = torch.tensor(off, dtype=torch.float64, requires_grad=True)
                y = render(torch.as_tensor(ident), p, r, eps=(eps, eps, 3 * eps), scheme=scheme,
                           check=False)
                pyramid_log_likelihood(x.double(), y, SIGMA_X, levels).sum().backward()
                g = p.grad.numpy()
                rel = np.abs(g - ref) / (np.abs(ref) + 1e-9)
                rows.append({
                    "eps_xy": eps, "eps_theta": 3 * eps, "scheme": scheme,
                    "fraction_zero": float((g[:, :2] == 0).mean()),
                    "median_rel_error_xy": float(np.median(rel[:, :2])),
                    "sign_agreement_xy": float((np.sign(g[:, :2]) == np.sign(ref[:, :2])).mean()),
                    "fraction_zero_theta": float((g[rotating, 2] == 0).mean()),
                    "median_rel_error_theta": float(np.median(rel[rotating, 2])),
                    "sign_agreement_theta": float((np.sign(g[rotating, 2]) == np.sign(ref[rotating, 2])).mean()),
                })
                print(rows[-1], flush=True)
    return rows


def main(argv=None) -> dict:
    p = parser(__doc__, OUT)
    p.add_argument("--quick", action="store_true", help="fewer repeats, a shorter measurement")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    repeats = 1 if args.quick or args.smoke else 5
    n_poses, n_gradient, n_scenes = (4, 2, 1) if args.smoke else (100, 20, 8) if args.quick else (100, 100, 40)
    rng = np.random.default_rng(0)
    _, poses = sample_scenes(n_poses, SceneSpec(), rng)
    poses = poses.astype(np.float64)
    speed = {}
    for size in (128, 32):
        raw = raw_fps(size, poses, repeats)
        fps, fps_batch = airlib_fps(size, poses, repeats)
        speed[f"{size}x{size}"] = {"raw_mujoco_fps": raw, "airlib_render_fps": fps,
                                   "airlib_render_batch_fps": fps_batch,
                                   "render_vs_raw": fps / raw, "render_batch_vs_raw": fps_batch / raw}
        print(size, speed[f"{size}x{size}"], flush=True)
    from airlib.render.gradient import DEFAULT_EPS
    fine = STAGES[-1][1]
    grad = {scheme: gradient_time(poses[:n_gradient], scheme, DEFAULT_EPS, fine)
            for scheme in ("forward", "central")}
    print("gradient seconds", grad, flush=True)
    stages = [{"stage": name, "levels": [list(lv) for lv in levels],
               "rows": informativeness(n_scenes, levels)} for name, levels in STAGES]
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
        "mujoco": mujoco.__version__, "quick": args.quick,
        "torch_threads": torch.get_num_threads(), "MUJOCO_GL": os.environ["MUJOCO_GL"],
        "speed": speed,
        "gradient_seconds_per_scene": {"eps": list(DEFAULT_EPS), **grad},
        "likelihood": {"sigma_x": SIGMA_X, "gradient_levels": [list(lv) for lv in fine]},
        "informativeness": stages,
    }
    return save(result, args, OUT)


if __name__ == "__main__":
    main()
