"""Table-top AIR's inference network as ONNX, for the book's live gallery (``book/try_tabletop``).

``python -m airlib export tabletop-air-sleep-type`` writes the deterministic inference of a plain table-top
network (:class:`airlib.tabletop_air.TabletopAIR`, N = 3 steps unrolled): a rendered image, uint8
(1, H, W, 3) as the renderer and a browser's canvas hold it, to the most likely description (present, type,
pose, camera) and each step's presence probability. It is checked with onnxruntime against
:func:`airlib.experiments.tabletop.air_infer` on the experiment's held-out scenes, rendered by its renderer:
every count and every type identical, poses within ``POSE_TOLERANCE`` and cameras within ``CAMERA_TOLERANCE``.

A difference network (DAIR) renders its partial reconstructions with MuJoCo inside its inference, which no
ONNX graph holds: it does not export. The graph takes one scene per run, as the page runs it (the network's
loop reads the batch size as a constant when traced).
"""
from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .tabletop_air import TabletopAIR

OUTPUTS = ("present", "kind", "pose", "camera", "q_pres")
POSE_TOLERANCE = 1e-4      # metres for x and y, radians for the angle (compared on the circle)
CAMERA_TOLERANCE = 1e-3    # degrees


DIFFERENCE = ("is a difference network (DAIR): its inference renders partial reconstructions with MuJoCo, which an "
              "ONNX graph cannot hold; only plain table-top AIR networks export")


def check_exportable(model) -> None:
    """Raises a ValueError unless ``model`` is a plain (non-difference) table-top AIR network."""
    if not isinstance(model, TabletopAIR):
        raise ValueError(f"only a table-top AIR network exports here, got {type(model).__name__}")
    if model.difference:
        raise ValueError(f"this network {DIFFERENCE}")


def exportable(name: str) -> None:
    """Raises a ValueError, before any weights load, unless experiment ``name`` trains a plain table-top AIR."""
    from . import experiments
    from .experiments.tabletop import Tabletop
    exp = experiments.get(name)
    if not isinstance(exp, Tabletop):
        raise ValueError(f"{name} is not a table-top experiment")
    if exp.method == "supervised":
        raise ValueError(f"{name} is a supervised baseline, not an AIR network; only table-top AIR networks export")
    if exp.method == "dair":
        raise ValueError(f"{name} {DIFFERENCE}")


def check_input(images: torch.Tensor, size: int) -> torch.Tensor:
    """Checks the graph's input: one rendered image, uint8 (1, size, size, 3), channels last."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        raise TypeError(f"images must be a uint8 tensor (1, {size}, {size}, 3), got "
                        f"{getattr(images, 'dtype', type(images).__name__)}")
    if tuple(images.shape) != (1, size, size, 3):
        raise ValueError(f"images must be one rendered image (1, {size}, {size}, 3), channels last, got "
                         f"{tuple(images.shape)}")
    return images


class TabletopGraph(nn.Module):
    # Takes one render (1, H, W, 3) uint8 to present (1, N) 0/1, kind (1, N) int32 (-1 where absent), pose (1, N, 3)
    # (x, y metres, angle radians), camera (1,) degrees and q(z_pres^i = 1) (1, N): TabletopAIR.forward(sample=False).
    def __init__(self, model: TabletopAIR, size: int = 128):
        super().__init__()
        check_exportable(model)
        self.model, self.size = model, size

    def forward(self, images: torch.Tensor):
        x = check_input(images, self.size).permute(0, 3, 1, 2).float() / 255.0     # (1, 3, H, W) as check_images
        t = self.model(x, sample=False)
        kind = torch.where(t.present > 0, t.kind, torch.full_like(t.kind, -1)).to(torch.int32)
        return t.present, kind, t.pose, t.camera, torch.sigmoid(t.pres_logit)


def export_tabletop_onnx(model: TabletopAIR, path: str | Path, size: int = 128, opset: int = 17) -> Path:
    """Writes ``model``'s inference graph (:class:`TabletopGraph`, float32, images ``size`` pixels) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    graph = TabletopGraph(model.float().eval(), size)
    example = torch.zeros(1, size, size, 3, dtype=torch.uint8)
    with warnings.catch_warnings():          # the tracer's notes on argument checks, which hold for every image
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (example,), str(path), input_names=["images"], output_names=list(OUTPUTS),
                          opset_version=opset, dynamo=False)
    return path


def as_uint8(images) -> torch.Tensor:
    """Renders (B, 3, H, W), floats k / 255 as ``render_batch`` returns them or uint8, as uint8 (B, H, W, 3)."""
    images = torch.as_tensor(images)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be renders (B, 3, H, W), got {tuple(images.shape)}")
    if images.dtype != torch.uint8:
        if not images.is_floating_point():
            raise TypeError(f"images must be floats in [0, 1] or uint8, got {images.dtype}")
        as_bytes = (images * 255).round().clamp(0, 255).to(torch.uint8)
        if not torch.equal(as_bytes.to(images.dtype) / 255, images):
            raise ValueError("images must be renders: floats that are multiples of 1/255 (render_batch's), or uint8")
        images = as_bytes
    return images.permute(0, 2, 3, 1).contiguous()


def pose_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| of poses (..., 3): x and y in metres, the angle in radians on the circle (pi and -pi are one angle)."""
    delta = np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))
    delta[..., 2] = np.abs(np.remainder(delta[..., 2] + math.pi, 2 * math.pi) - math.pi)
    return delta


def check_tabletop_onnx(model: TabletopAIR, path: str | Path, images, chunk: int = 100) -> dict:
    """Runs the ONNX file with onnxruntime, one scene at a time, and compares it with ``air_infer`` on ``images``.

    Args:
        images: renders (B, 3, H, W), as ``TabletopRenderer.render_batch`` returns them (or uint8).

    Returns:
        ``scenes``; ``count_mismatches`` (scenes counted differently); ``type_mismatches`` (scenes counted alike
        whose objects' types differ, slot by slot); ``max_abs_pose`` (metres or radians, over the objects of
        scenes counted alike) and ``max_abs_camera`` (degrees); ``ok`` (no mismatch, both within tolerance);
        onnxruntime's seconds per scene.
    """
    import onnxruntime as ort

    from .experiments.tabletop import air_infer
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    pixels = as_uint8(images)                                            # (B, H, W, 3)
    counts = types = 0
    d_pose = d_camera = 0.0
    seconds = 0.0
    for part in pixels.split(chunk):
        ref = air_infer(model, part.permute(0, 3, 1, 2))                 # the same bytes, as the network reads them
        t0 = time.perf_counter()
        outs = [session.run(None, {"images": x[None].numpy()}) for x in part]
        seconds += time.perf_counter() - t0
        present, kind, pose, camera = (np.concatenate([o[k] for o in outs]) for k in range(4))
        same = (present > 0).sum(1) == ref.present.sum(1)
        counts += int((~same).sum())
        shown = ref.present & same[:, None]                              # (b, N) objects of scenes counted alike
        types += int(((kind != ref.kind) & shown).any(1).sum())
        if shown.any():
            d_pose = max(d_pose, float(pose_difference(pose, ref.pose)[shown].max()))
        d_camera = max(d_camera, float(np.abs(camera - ref.camera).max()))
    n = len(pixels)
    return dict(scenes=n, count_mismatches=counts, type_mismatches=types, max_abs_pose=d_pose,
                max_abs_camera=d_camera,
                ok=counts == 0 and types == 0 and d_pose <= POSE_TOLERANCE and d_camera <= CAMERA_TOLERANCE,
                onnxruntime_seconds_per_scene=seconds / max(1, n))


def held_out(name: str, profile: str = "paper", scenes: int | None = None):
    """An experiment's held-out scenes (the first ``scenes`` of them) and their renders by the experiment's renderer.

    Returns:
        ``(truth, images)``: :class:`airlib.tabletop_scenes.Scenes` and float (B, 3, H, W).
    """
    from . import experiments
    from .experiments import tabletop as T
    from .render.tabletop import TabletopRenderer
    exp = experiments.get(name)
    cfg = experiments.config(name, profile)[1]
    truth = T.held_out(exp.data(profile))
    truth = truth if scenes is None else truth.take(slice(scenes))
    with TabletopRenderer(cfg.render_size, T.SPEC) as renderer:
        return truth, renderer.render_batch(*truth)


def export(name: str, seed: int, out_dir: str | Path, check: bool = True) -> tuple[Path, dict | None]:
    """Exports a committed table-top network to ``out_dir/<name>.onnx`` and checks it on the held-out scenes."""
    from . import experiments
    from .pretrained import load_pretrained
    exportable(name)
    model = load_pretrained(name, seed)
    size = experiments.config(name, model.record["profile"])[1].render_size
    path = export_tabletop_onnx(model, Path(out_dir) / f"{name}.onnx", size)
    if not check:
        return path, None
    _, images = held_out(name, model.record["profile"])
    return path, check_tabletop_onnx(model, path, images)
