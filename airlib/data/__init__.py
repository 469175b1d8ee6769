"""Data sets: MNIST (offline, verified) and multi-MNIST (Sec. II)."""
from .mnist import MNISTError, cache_dir, load_mnist
from .multi_mnist import (MULTI_MNIST, MultiMNIST, MultiMNISTConfig, MultiMNISTDataset, ink_boxes, loader,
                          make_multi_mnist, max_count, multi_mnist_splits)
