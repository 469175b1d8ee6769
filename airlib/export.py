"""AIR's inference network as ONNX, for live inference in the reader's browser (``book/try_air``).

``python -m airlib export NAME --seed S`` writes the deterministic inference of a trained AIR or DAIR
(the ``N`` steps unrolled: image -> count, windows, reconstruction and each step's presence
probability) with ``torch.onnx``, then checks it with ``onnxruntime`` against ``model.infer`` on the
held-out test images: every count equal, windows and reconstructions within ``TOLERANCE``. The same command
exports a table-top AIR network (:mod:`airlib.tabletop_export`, for ``book/try_tabletop``).
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from torch import nn

TOLERANCE = 1e-4
OUTPUTS = ("z_pres", "z_where", "reconstruction", "q_pres")


class InferenceGraph(nn.Module):
    # Takes images (B, 50, 50) in [0, 1] to z_pres (B, N), z_where (B, N, 3), reconstruction (B, 50, 50)
    # and q(z_pres^i = 1) (B, N): the deterministic pass of AIR.forward(sample=False).
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor):
        t = self.model(images, sample=False)
        return t.z_pres, t.z_where, t.reconstruction, torch.sigmoid(t.pres_logit)


def export_onnx(model, path: str | Path, opset: int = 17) -> Path:
    """Writes ``model``'s inference graph (float32, any batch size) to ``path``."""
    import warnings
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    graph = InferenceGraph(model.float().eval())
    example = torch.rand(2, model.config.image_size, model.config.image_size)
    with warnings.catch_warnings():          # the tracer's notes on shape checks that hold for every batch
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (example,), str(path), input_names=["images"], output_names=list(OUTPUTS),
                          dynamic_axes={"images": {0: "batch"}, **{o: {0: "batch"} for o in OUTPUTS}},
                          opset_version=opset, dynamo=False)
    return path


def check_onnx(model, path: str | Path, images: torch.Tensor, chunk: int = 1000) -> dict:
    """Runs the ONNX file with onnxruntime and compares it with ``model.infer`` on ``images``.

    Returns:
        ``images``, ``count_mismatches``, ``max_abs_window``, ``max_abs_reconstruction``, ``ok``
        (every count equal and both differences within ``TOLERANCE``) and onnxruntime's seconds per image.
    """
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    images = model.check_images(images).float()
    mismatches, d_where, d_recon, seconds = 0, 0.0, 0.0, 0.0
    for part in images.split(chunk):
        t0 = time.perf_counter()
        z_pres, z_where, recon, _ = session.run(None, {"images": part.numpy()})
        seconds += time.perf_counter() - t0
        ref = model.infer(part)
        count = torch.from_numpy(z_pres).sum(1).long()
        mismatches += int((count != ref.count).sum())
        present = ref.z_pres > 0                                            # windows of present steps
        if present.any():
            d_where = max(d_where, (torch.from_numpy(z_where) - ref.z_where)[present].abs().max().item())
        d_recon = max(d_recon, (torch.from_numpy(recon) - ref.reconstruction).abs().max().item())
    n = len(images)
    return dict(images=n, count_mismatches=mismatches, max_abs_window=d_where, max_abs_reconstruction=d_recon,
                ok=mismatches == 0 and d_where <= TOLERANCE and d_recon <= TOLERANCE,
                onnxruntime_seconds_per_image=seconds / max(1, n))


def export(name: str, seed: int, out_dir: str | Path, check: bool = True) -> tuple[Path, dict | None]:
    """Exports a committed model to ``out_dir/<name>.onnx`` and checks it on the held-out data: an AIR or DAIR on
    the 10,000 held-out images, a table-top AIR network on its experiment's held-out scenes
    (:mod:`airlib.tabletop_export`).

    Raises:
        ValueError: an unknown name, or a network that does not export (a supervised one, a table-top DAIR).
    """
    from . import experiments
    from .data import multi_mnist_splits
    from .experiments.tabletop import Tabletop
    from .pretrained import load_pretrained
    if isinstance(experiments.get(name), Tabletop):
        from . import tabletop_export
        return tabletop_export.export(name, seed, out_dir, check)
    model = load_pretrained(name, seed)
    if not hasattr(model, "config") or not hasattr(model.config, "max_steps"):
        raise ValueError(f"{name} is not an AIR or DAIR model; only those export")
    path = export_onnx(model, Path(out_dir) / f"{name}.onnx")
    if not check:
        return path, None
    _, test = multi_mnist_splits(model.record["profile"])
    return path, check_onnx(model, path, torch.from_numpy(test.images))
