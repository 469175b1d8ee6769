"""Data sets: MNIST (offline, verified) and multi-MNIST (Sec. II), with verified, concurrency-safe caches."""
from .mnist import MNISTError, cache_dir, load_mnist, tensor_sha256
from .multi_mnist import (MULTI_MNIST, MultiMNIST, MultiMNISTConfig, exact_count_set, ink_boxes, make_multi_mnist,
                          max_count, multi_mnist_splits)
