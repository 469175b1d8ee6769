"""Multi-MNIST (Sec. II): 50x50 canvases holding 0, 1 or 2 non-overlapping MNIST digits at 28x28.

Digits sit at uniformly random integer positions inside the canvas, and no two digits' tight ink
bounding boxes intersect. The number of digits per image is uniform over a configurable set.
Training images use MNIST training digits only, test images test digits only.
"""
from __future__ import annotations

import hashlib
import json
import operator
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..profiles import select
from .mnist import atomic_savez, cache_dir, load_mnist, tensor_sha256

DIGIT = 28       # MNIST digits keep their native size
MAX_INK = 20     # MNIST digits are normalised to fit a 20x20 box
REDRAW = 50      # rounds of rejected placements before an image redraws its digits
VERSION = 1      # bump when the generator's output changes, so stale caches are not reused
FIELDS = ("images", "counts", "labels", "boxes")


@dataclass(frozen=True)
class MultiMNISTConfig:
    """Sizes of the multi-MNIST training and test sets for one profile."""
    n_train: int
    n_test: int
    counts: tuple[int, ...] = (0, 1, 2)
    size: int = 50
    n_exact: int = 2000                 # held-out images of one exact count (strong generalization, Sec. II-A)


MULTI_MNIST = {
    "smoke": MultiMNISTConfig(n_train=2000, n_test=500, n_exact=200),
    "paper": MultiMNISTConfig(n_train=60000, n_test=10000),
}


@dataclass
class MultiMNIST:
    """A multi-MNIST data set.

    Attributes:
        images: uint8 (M, size, size).
        counts: int64 (M,): digits in each image.
        labels: int64 (M, K): each digit's class, -1 past ``counts`` (K = max count).
        boxes: int64 (M, K, 4): each digit's ink box (top, left, bottom, right), bottom and right
            exclusive, -1 past ``counts``.
    """
    images: np.ndarray
    counts: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def tensor(self) -> torch.Tensor:
        """The images as a float32 tensor (M, size, size) in [0, 1]."""
        return torch.from_numpy(self.images).float().div_(255.0)

    def sha256(self) -> str:
        """SHA-256 of the whole set: of the text ``"name=<tensor_sha256>;"`` for images, counts, labels
        and boxes in turn."""
        text = "".join(f"{name}={tensor_sha256(getattr(self, name))};" for name in FIELDS)
        return hashlib.sha256(text.encode("ascii")).hexdigest()


def max_count(size: int) -> int:
    """The most digits that random placement fits without overlap on a size x size canvas.

    Ink can reach a (size - 8)-pixel square (a 20x20 ink box is centred in its 28x28 patch); it
    holds this many 24x24 cells, each a 20x20 box with a margin that leaves room to place it at random.
    """
    return (size - (DIGIT - MAX_INK)) ** 2 // (MAX_INK + 4) ** 2


def make_multi_mnist(n_images: int, counts=(0, 1, 2), split: str = "train", seed: int = 0,
                     size: int = 50, cache: bool = True) -> MultiMNIST:
    """Generates (or loads from the cache) a multi-MNIST data set.

    Args:
        n_images: number of images M, a non-negative integer.
        counts: the set of digit counts (integers), drawn uniformly per image.
        split: which MNIST digits to use, ``"train"`` or ``"test"``.
        seed: the generator's seed, a non-negative integer; equal arguments give equal data sets.
        size: canvas side in pixels (at least 28).
        cache: keep the result on disk in :func:`cache_dir`, keyed by every argument, the
            generator's ``VERSION`` and numpy's version, and verified by its SHA-256 on every load:
            a damaged cache file is rebuilt with a warning naming it.

    Returns:
        A :class:`MultiMNIST`.

    Raises:
        TypeError: for an argument of the wrong type (e.g. ``counts=(1.7,)`` or ``counts="12"``).
        ValueError: for an argument out of range (e.g. ``seed=-1``).
    """
    n_images, counts, seed, size = _check(n_images, counts, split, seed, size)
    key = dict(n_images=n_images, counts=counts, split=split, seed=seed, size=size, version=VERSION,
               numpy=np.__version__)  # numpy's Generator streams may change between its versions
    path = cache_dir() / f"multi-mnist-{hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]}.npz"
    if cache and (data := _read_cache(path, n_images, counts, size)) is not None:
        return data
    digits, digit_labels = load_mnist(split)
    data = _generate(digits, digit_labels, n_images, counts, size,
                     np.random.default_rng([seed, ("train", "test").index(split)]))
    if cache:
        atomic_savez(path, **asdict(data), sha256=np.array(data.sha256()))
    return data


def _read_cache(path: Path, n_images: int, counts: tuple[int, ...], size: int) -> MultiMNIST | None:
    """The data set cached at ``path``; None, with a warning naming the file, when it is damaged."""
    if not path.exists():
        return None
    try:
        with np.load(path) as f:
            data = MultiMNIST(**{k: f[k] for k in FIELDS})
            stored = str(f["sha256"])
    except Exception as e:  # a truncated or foreign file: BadZipFile, EOFError, KeyError, zlib.error ...
        problem = f"unreadable ({type(e).__name__}: {e})"
    else:
        problem = _damage(data, stored, n_images, counts, size)
    if problem is None:
        return data
    warnings.warn(f"the multi-MNIST cache {path} is {problem}; rebuilding it", stacklevel=3)
    return None


def _damage(data: MultiMNIST, stored: str, n: int, counts: tuple[int, ...], size: int) -> str | None:
    """What is wrong with a cached data set, or None.

    The digest catches a damaged file; the structural checks also catch a rewritten one whose digest
    was recomputed (e.g. black images: an image with digits must have ink).
    """
    k = max(counts)
    shapes = {"images": (n, size, size), "counts": (n,), "labels": (n, k), "boxes": (n, k, 4)}
    for name, shape in shapes.items():
        arr = getattr(data, name)
        want = np.uint8 if name == "images" else np.int64
        if arr.shape != shape or arr.dtype != want:
            return (f"not the set asked for: {name} is {arr.dtype} {arr.shape}, "
                    f"expected {np.dtype(want)} {shape}")
    if stored != data.sha256():
        return "corrupted: its content does not match its SHA-256"
    if not np.isin(data.counts, counts).all():
        return f"inconsistent: it holds counts outside {counts}"
    has_ink = data.images.reshape(n, -1).max(axis=1, initial=0) > 0
    if not np.array_equal(has_ink, data.counts > 0):
        wrong = int((has_ink != (data.counts > 0)).sum())
        return f"inconsistent: {wrong} images have ink that disagrees with their count"
    return None


def multi_mnist_splits(profile: str, counts=None, seed: int = 0) -> tuple[MultiMNIST, MultiMNIST]:
    """The training and test sets of a profile (``"smoke"`` or ``"paper"``).

    Args:
        profile: a name from ``airlib.profiles.PROFILES``.
        counts: overrides the profile's set of counts (e.g. ``(0, 1, 3)`` for interpolation).
        seed: the generator's seed.

    Returns:
        ``(train, test)``, made from MNIST training and test digits respectively.
    """
    cfg = select(MULTI_MNIST, profile)
    counts = cfg.counts if counts is None else counts
    return (make_multi_mnist(cfg.n_train, counts, "train", seed, cfg.size),
            make_multi_mnist(cfg.n_test, counts, "test", seed, cfg.size))


def exact_count_set(profile: str, count: int) -> MultiMNIST:
    """Held-out images (MNIST test digits) holding exactly ``count`` digits: the generalization tests of
    Sec. II-A (3 digits for extrapolation, 2 for interpolation). Seeded apart from the test sets
    (seed 1000 + count), so no image of a test set is reused."""
    cfg = select(MULTI_MNIST, profile)
    count = _integer("count", count, 0)             # before it enters the seed, so errors name the count
    return make_multi_mnist(cfg.n_exact, (count,), "test", 1000 + count, cfg.size)


def _integer(name: str, value, minimum: int) -> int:
    """``value`` as an int, if it is an integer (not a bool or float) of at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})") from None
    if value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value}")
    return value


def _check(n_images, counts, split, seed, size) -> tuple[int, tuple[int, ...], int, int]:
    """The arguments of :func:`make_multi_mnist` as plain ints, sorted unique counts; else a clear error."""
    n_images = _integer("n_images", n_images, 0)
    seed = _integer("seed", seed, 0)
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}: expected 'train' or 'test'")
    size = _integer("size", size, DIGIT)  # a digit is 28x28
    if isinstance(counts, (str, bytes)) or not isinstance(counts, Iterable):
        raise TypeError(f"counts must be a sequence of integers such as (0, 1, 2), got {counts!r}")
    items = list(counts)
    for c in items:
        if isinstance(c, (bool, np.bool_)) or not hasattr(c, "__index__"):
            raise TypeError(f"counts must hold integers, got {c!r} in {tuple(items)!r}")
    counts = tuple(sorted(set(operator.index(c) for c in items)))
    if not counts:
        raise ValueError("counts must name at least one number of digits")
    if counts[0] < 0:
        raise ValueError(f"counts must be non-negative, got {counts}")
    if counts[-1] > max_count(size):
        raise ValueError(f"{counts[-1]} digits do not reliably fit without overlap on a {size}x{size} "
                         f"canvas: at most {max_count(size)}")
    return n_images, counts, seed, size


def ink_boxes(digits: np.ndarray) -> np.ndarray:
    """Tight ink bounding boxes of digits (D, 28, 28) -> int64 (D, 4): top, left, bottom, right."""
    rows, cols = digits.any(axis=2), digits.any(axis=1)  # (D, 28) each
    first = lambda m: m.argmax(axis=1)
    last = lambda m: m.shape[1] - m[:, ::-1].argmax(axis=1)
    return np.stack([first(rows), first(cols), last(rows), last(cols)], axis=1).astype(np.int64)


def _generate(digits, digit_labels, n, counts, size, rng) -> MultiMNIST:
    """Places digits by vectorised rejection sampling of positions until no ink boxes intersect.

    An image still unplaced after ``REDRAW`` rounds draws new digits too: a few combinations of three
    wide digits have almost no non-overlapping placements on a 50x50 canvas.
    """
    k = max(counts) if counts else 0
    num = rng.choice(np.array(counts), size=n)                          # (M,)
    which = rng.integers(0, len(digits), size=(n, k))                   # (M, K) digit indices
    valid = np.arange(k)[None, :] < num[:, None]                        # (M, K)
    ink = ink_boxes(digits)[which]                                      # (M, K, 4) in patch coords
    pos = np.zeros((n, k, 2), dtype=np.int64)                           # (M, K, 2) patch top-left
    todo = np.arange(n)
    for round_ in range(1, 10001):
        if todo.size == 0:
            break
        if round_ % REDRAW == 0:
            which[todo] = rng.integers(0, len(digits), size=(todo.size, k))
            ink[todo] = ink_boxes(digits[which[todo].ravel()]).reshape(todo.size, k, 4)
        pos[todo] = rng.integers(0, size - DIGIT + 1, size=(todo.size, k, 2))
        box = ink[todo] + np.tile(pos[todo], 2)                           # (T, K, 4) canvas coords
        a, b = box[:, :, None, :], box[:, None, :, :]
        overlap = ((a[..., 0] < b[..., 2]) & (b[..., 0] < a[..., 2]) &
                   (a[..., 1] < b[..., 3]) & (b[..., 1] < a[..., 3]))      # (T, K, K)
        both = valid[todo][:, :, None] & valid[todo][:, None, :] & ~np.eye(k, dtype=bool)
        todo = todo[(overlap & both).any(axis=(1, 2))]
    else:
        raise RuntimeError("could not place the digits without overlap; use fewer digits or a larger canvas")
    images = np.zeros((n, size, size), dtype=np.uint8)
    rr = np.arange(DIGIT)
    for j in range(k):
        m = np.flatnonzero(valid[:, j])
        r = pos[m, j, 0][:, None, None] + rr[None, :, None]             # (m, 28, 1)
        c = pos[m, j, 1][:, None, None] + rr[None, None, :]             # (m, 1, 28)
        images[m[:, None, None], r, c] = np.maximum(images[m[:, None, None], r, c], digits[which[m, j]])
    boxes = np.where(valid[..., None], ink + np.tile(pos, 2), -1)
    labels = np.where(valid, digit_labels[which], -1)
    return MultiMNIST(images=images, counts=num.astype(np.int64), labels=labels.astype(np.int64),
                      boxes=boxes.astype(np.int64))
