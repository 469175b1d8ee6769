"""The book's live page (``book/try_air.md``): ONNX models, onnxruntime-web and test images in ``_vendor/try_air``.

Built with the book, never committed: AIR and DAIR (seed 0) exported and checked by
:mod:`airlib.export`, 200 held-out test images, and onnxruntime-web from the npm registry, pinned to
``ORT_WEB`` and verified against its published SHA-512 integrity before anything is unpacked.
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


def build_live(root: Path) -> dict:
    """Writes ``root/_vendor/try_air/`` (served as ``/try_air``); returns each model's ONNX check.

    Raises:
        BookError: an exported model disagrees with ``model.infer`` on the held-out images.
    """
    import torch

    from ..data import cache_dir, multi_mnist_splits
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
    with tarfile.open(onnxruntime_web(cache_dir() / "npm")) as tar:
        for name in ORT_FILES:
            member = tar.extractfile(f"package/dist/{name}")
            (target / name).write_bytes(member.read())
    (target / "try_air.js").write_text(resources.files(__package__).joinpath("try_air.js").read_text())
    (target / "checks.json").write_text(json.dumps(checks, indent=1))
    return checks
