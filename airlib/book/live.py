"""The book's live pages: ONNX models, onnxruntime-web and held-out data under ``_vendor/``.

``book/try_air.md`` (``_vendor/try_air``): AIR and DAIR (seed 0) exported and checked by :mod:`airlib.export`,
200 held-out test images, and onnxruntime-web from the npm registry, pinned to ``ORT_WEB`` and verified against
its published SHA-512 integrity before anything is unpacked. ``book/try_tabletop.md`` (``_vendor/try_tabletop``):
the table-top networks trained on the model's own scenes (seed 0) exported and checked by
:mod:`airlib.tabletop_export`, a gallery of held-out renders with each one's description re-rendered by MuJoCo
from the torch inference, and the projection of the table into the image; it runs the same onnxruntime-web,
from ``_vendor/try_air``. Built with the book, never committed.
"""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
from importlib import resources
from pathlib import Path

from .common import BookError

ORT_WEB = "1.30.0"
ORT_WEB_INTEGRITY = "sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ=="
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
MODELS = ("air-multi-mnist", "dair-multi-mnist")
TEST_IMAGES = 200


def onnxruntime_web(cache: Path) -> Path:
    """The verified npm tarball of onnxruntime-web ``ORT_WEB``, fetched once into ``cache`` with ``npm pack``."""
    tarball = cache / f"onnxruntime-web-{ORT_WEB}.tgz"
    if not tarball.exists():
        cache.mkdir(parents=True, exist_ok=True)
        if shutil.which("npm") is None:
            raise BookError("npm is needed once to fetch onnxruntime-web for the live page (Debian: apt-get install npm)")
        result = subprocess.run(["npm", "pack", f"onnxruntime-web@{ORT_WEB}", "--pack-destination", str(cache)],
                                capture_output=True, text=True)
        if result.returncode != 0 or not tarball.exists():
            raise BookError(f"npm pack onnxruntime-web@{ORT_WEB} failed:\n{result.stderr[-2000:]}")
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != ORT_WEB_INTEGRITY:
        tarball.unlink()
        raise BookError(f"{tarball.name} does not match its npm integrity {ORT_WEB_INTEGRITY} (got {digest}); "
                        "it was deleted, run the build again")
    return tarball


def vendor_onnxruntime(target: Path) -> None:
    """Unpacks the verified onnxruntime-web's ``ORT_FILES`` into ``target`` (both live pages load them from
    ``_vendor/try_air``)."""
    from ..data import cache_dir
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(onnxruntime_web(cache_dir() / "npm")) as tar:
        for name in ORT_FILES:
            member = tar.extractfile(f"package/dist/{name}")
            (target / name).write_bytes(member.read())


def build_live(root: Path) -> dict:
    """Writes ``root/_vendor/try_air/`` (served as ``/try_air``); returns each model's ONNX check.

    Raises:
        BookError: an exported model disagrees with ``model.infer`` on the held-out images.
    """
    import torch

    from ..data import multi_mnist_splits
    from ..export import check_onnx, export_onnx
    from ..pretrained import load_pretrained
    target = root / "_vendor" / "try_air"
    target.mkdir(parents=True, exist_ok=True)
    _, test = multi_mnist_splits("paper")
    checks = {}
    for name in MODELS:
        model = load_pretrained(name, 0)
        path = export_onnx(model, target / f"{name}.onnx")
        checks[name] = check_onnx(model, path, torch.from_numpy(test.images))
        if not checks[name]["ok"]:
            raise BookError(f"the ONNX export of {name} disagrees with model.infer: {checks[name]}")
        print(f"book: exported {name} to ONNX; on {checks[name]['images']} held-out images "
              f"{checks[name]['count_mismatches']} counts differ, windows within {checks[name]['max_abs_window']:.1e}, "
              f"reconstructions within {checks[name]['max_abs_reconstruction']:.1e}", flush=True)
    pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:TEST_IMAGES]
    (target / "test_images.json").write_text(json.dumps({
        "count": TEST_IMAGES, "counts": test.counts[pick.numpy()].tolist(),
        "images": [base64.b64encode(test.images[i].tobytes()).decode() for i in pick.tolist()]}))
    vendor_onnxruntime(target)
    (target / "try_air.js").write_text(resources.files(__package__).joinpath("try_air.js").read_text())
    (target / "checks.json").write_text(json.dumps(checks, indent=1))
    return checks


# ---------------------------------------------------------------- the table-top gallery (book/try_tabletop)

TABLETOP = (("fixed", "tabletop-air-sleep-type", "fixed camera"),
            ("moving", "tabletop-air-sleep-type-camera", "moving camera"))   # (key, experiment, label), seed 0 each
GALLERY = 24              # held-out scenes per network shipped as images, as many of each count as it allows
# What try_tabletop.js reads of gallery.json: the page's keys, each network's, each scene's and each description's.
GALLERY_KEYS = ("size", "kinds", "radius", "projection", "tolerance", "networks")
NETWORK_KEYS = ("key", "name", "label", "onnx", "moving_camera", "check", "scenes")
SCENE_KEYS = ("held_out", "image", "rerender", "pixel_sum", "truth", "torch")
DESCRIPTION_KEYS = ("present", "kind", "pose", "camera")


def gallery_pick(counts, n: int) -> list[int]:
    """``n`` scene indices, taking in turn the next scene of each count (0, 1, ...), in the held-out order."""
    import numpy as np
    counts = np.asarray(counts)
    queues = [list(np.flatnonzero(counts == c)) for c in range(int(counts.max()) + 1)] if len(counts) else []
    pick = []
    while len(pick) < n and any(queues):
        for queue in queues:
            if queue and len(pick) < n:
                pick.append(int(queue.pop(0)))
    return sorted(pick)


def _description(scenes, b: int) -> dict:
    """Scene ``b`` of :class:`airlib.tabletop_scenes.Scenes` as JSON: present, kind (-1 absent), pose (x, y metres,
    angle radians), camera (degrees)."""
    return dict(present=[bool(v) for v in scenes.present[b]], kind=[int(v) for v in scenes.kind[b]],
                pose=scenes.pose[b].astype(float).tolist(), camera=float(scenes.camera[b]))


def write_tabletop(target: Path, gallery: int = GALLERY, scenes: int | None = None) -> dict:
    """Writes the table-top page's networks (ONNX), its gallery (PNG renders of held-out scenes and of their torch
    descriptions, re-rendered by MuJoCo) and ``gallery.json`` into ``target``; returns each network's ONNX check.

    Args:
        gallery: held-out scenes per network in the gallery (:func:`gallery_pick`).
        scenes: check on the first ``scenes`` held-out scenes only, and pick the gallery among them (default: all).

    Raises:
        BookError: an exported network disagrees with the torch inference (``air_infer``) on the held-out scenes.
    """
    from .. import experiments
    from ..experiments.tabletop import SPEC, air_infer
    from ..pretrained import load_pretrained
    from ..render.crockery import BODY_RADIUS
    from ..render.tabletop import KINDS, TabletopRenderer, image_projection
    from ..tabletop_export import (CAMERA_TOLERANCE, POSE_TOLERANCE, as_uint8, check_tabletop_onnx,
                                   export_tabletop_onnx, held_out)
    from ..try_tabletop import png
    target.mkdir(parents=True, exist_ok=True)
    networks, checks, sizes = [], {}, set()
    for key, name, label in TABLETOP:
        model = load_pretrained(name, 0)
        size = experiments.config(name, model.record["profile"])[1].render_size
        sizes.add(size)
        truth, images = held_out(name, model.record["profile"], scenes)       # (B, 3, H, W) floats, as rendered
        path = export_tabletop_onnx(model, target / f"{name}.onnx", size)
        checks[name] = check = check_tabletop_onnx(model, path, images)
        if not check["ok"]:
            raise BookError(f"the ONNX export of {name} disagrees with the torch inference (air_infer): {check}")
        print(f"book: exported {name} to ONNX; on {check['scenes']} held-out scenes {check['count_mismatches']} counts "
              f"and {check['type_mismatches']} scenes' types differ, poses within {check['max_abs_pose']:.1e}, "
              f"cameras within {check['max_abs_camera']:.1e} degrees", flush=True)
        pick = gallery_pick(truth.present.sum(1), gallery)
        guess = air_infer(model, images[pick])
        with TabletopRenderer(size, SPEC) as renderer:
            again = renderer.render_batch(*guess)                               # (G, 3, H, W)
        shown, redrawn = as_uint8(images[pick]).numpy(), as_uint8(again).numpy()   # (G, H, W, 3) each
        (target / key).mkdir(exist_ok=True)
        entries = []
        for j, b in enumerate(pick):
            image, rerender = f"{key}/scene-{j:02d}.png", f"{key}/rerender-{j:02d}.png"
            (target / image).write_bytes(png(shown[j]))
            (target / rerender).write_bytes(png(redrawn[j]))
            entries.append(dict(held_out=b, image=image, rerender=rerender, pixel_sum=int(shown[j].sum(dtype="int64")),
                                truth=_description(truth, b), torch=_description(guess, j)))
        networks.append(dict(key=key, name=name, label=label, onnx=path.name, moving_camera=bool(model.moving_camera),
                             check=check, scenes=entries))
    if len(sizes) != 1:
        raise BookError(f"the table-top networks read renders of different sizes {sorted(sizes)}; the page shows one")
    (size,) = sizes
    (target / "gallery.json").write_text(json.dumps(dict(
        size=size, kinds=list(KINDS), radius=[BODY_RADIUS[k] for k in KINDS],
        projection=image_projection(SPEC, size).tolist(), tolerance=dict(pose=POSE_TOLERANCE, camera=CAMERA_TOLERANCE),
        networks=networks)))
    return checks


def build_live_tabletop(root: Path) -> dict:
    """Writes ``root/_vendor/try_tabletop/`` (served as ``/try_tabletop``, afresh) and the onnxruntime-web it runs
    (``_vendor/try_air``); returns each network's ONNX check.

    Raises:
        BookError: an exported network disagrees with the torch inference on the held-out scenes.
    """
    target = root / "_vendor" / "try_tabletop"
    shutil.rmtree(target, ignore_errors=True)
    checks = write_tabletop(target)
    vendor_onnxruntime(root / "_vendor" / "try_air")
    (target / "try_tabletop.js").write_text(resources.files(__package__).joinpath("try_tabletop.js").read_text())
    (target / "checks.json").write_text(json.dumps(checks, indent=1))
    return checks
