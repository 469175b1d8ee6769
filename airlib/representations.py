"""Representational power (Sec. II-B, Fig. 7): how well each learned code serves two downstream tasks.

Images of exactly two digits, their labels from the generator's ground truth:

* **sum**: the sum of the two digits' classes (19 classes, 0 to 18);
* **ascending**: 1 if the digits, read left to right, are in non-decreasing order (the left one's
  class is at most the right one's), else 0. "Left" compares the centres of the digits' ink boxes;
  at equal centres (one digit above the other) the upper one is read first.

Each representation feeds a small classifier trained on ``n`` labelled images, for ``n``
log-spaced from 10 to 10,000; its depth and width are chosen from a grid on a fixed validation set,
and the chosen one is scored on held-out images of MNIST test digits:

* AIR: per object ``z_pres``, ``z_where`` and ``z_what``, the objects **sorted by their window's
  horizontal position** (absent objects zeroed and last), so the slot order the LSTM happened to
  use cannot matter;
* the convolutional autoencoder's code (``cae.py``) and DRAW's 40 latent means (``draw.py``);
* raw pixels, through a CNN trained end to end.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from .profiles import select

TASKS = ("sum", "ascending")
CLASSES = {"sum": 19, "ascending": 2}


@dataclass(frozen=True)
class StudyConfig:
    """The downstream study's sizes and grid."""
    n_pool: int = 10000                       # labelled two-digit images (MNIST training digits) ...
    n_valid: int = 1000                       # ... and a separate validation set for the grid
    n_test: int = 2000                        # held-out two-digit images (MNIST test digits)
    label_counts: tuple[int, ...] = (10, 100, 1000, 10000)
    seeds: tuple[int, ...] = (0, 1, 2)
    widths: tuple[int, ...] = (128,)          # MLP hidden units ...
    depths: tuple[int, ...] = (1, 2)          # ... and hidden layers
    cnn_widths: tuple[int, ...] = (16, 32)    # CNN channels of the first convolution (doubled per block) ...
    cnn_depths: tuple[int, ...] = (2,)        # ... and strided blocks after the first
    epochs: int = 10                          # passes over the labelled images per fit, within ...
    min_steps: int = 200                      # ... these bounds on the Adam steps of `batch` examples
    max_steps: int = 1000
    batch: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    data_seed: int = 3000                     # the two-digit sets' generator seed (apart from every other set)


STUDY = {"smoke": StudyConfig(n_pool=200, n_valid=100, n_test=200, label_counts=(10, 100, 200), seeds=(0,),
                              widths=(32,), depths=(1,), cnn_widths=(8,), cnn_depths=(1,), min_steps=40,
                              max_steps=40),
         "paper": StudyConfig()}


def study_config(profile: str) -> StudyConfig:
    return select(STUDY, profile)


def two_digit_labels(labels: np.ndarray, boxes: np.ndarray) -> dict[str, Tensor]:
    """The tasks' targets from a generator's ground truth.

    Args:
        labels: (M, 2) digit classes; boxes: (M, 2, 4) ink boxes (top, left, bottom, right).

    Returns:
        ``{"sum": (M,) int64 in 0..18, "ascending": (M,) int64 in {0, 1}}``.
    """
    labels, boxes = np.asarray(labels), np.asarray(boxes)
    if labels.ndim != 2 or labels.shape[1] != 2 or (labels < 0).any():
        raise ValueError(f"labels must be (M, 2) classes of two-digit images, got shape {labels.shape}")
    cx = boxes[..., 1] + boxes[..., 3]                  # twice the ink box's centre: (M, 2)
    cy = boxes[..., 0] + boxes[..., 2]
    first = np.where((cx[:, 0] < cx[:, 1]) | ((cx[:, 0] == cx[:, 1]) & (cy[:, 0] <= cy[:, 1])), 0, 1)
    rows = np.arange(len(labels))
    left, right = labels[rows, first], labels[rows, 1 - first]
    return {"sum": torch.from_numpy(labels.sum(1)).long(), "ascending": torch.from_numpy(left <= right).long()}


def two_digit_sets(profile: str) -> dict[str, tuple[Tensor, dict[str, Tensor]]]:
    """``{"pool" | "valid" | "test": (images uint8 (M, 50, 50), targets)}`` of the study."""
    from .data import make_multi_mnist
    cfg = study_config(profile)
    out = {}
    for part, n, split, offset in (("pool", cfg.n_pool, "train", 0), ("valid", cfg.n_valid, "train", 1),
                                   ("test", cfg.n_test, "test", 0)):
        d = make_multi_mnist(n, (2,), split, cfg.data_seed + offset)
        out[part] = (torch.from_numpy(d.images), two_digit_labels(d.labels, d.boxes))
    return out


def air_features(model, images: Tensor) -> Tensor:
    """AIR's scene code with the objects sorted left to right: (M, N * (4 + z_what)).

    Each object is ``[z_pres, z_where (s, x, y), z_what]``, zeroed when absent; present objects come
    first, ordered by their window's horizontal position, so permuting the inference's slots leaves
    the features unchanged.
    """
    inf = model.infer(images)
    return sort_objects(inf.z_pres, inf.z_where, inf.z_what)


def sort_objects(z_pres: Tensor, z_where: Tensor, z_what: Tensor) -> Tensor:
    """``(M, N)``, ``(M, N, 3)``, ``(M, N, Z)`` -> (M, N * (4 + Z)), objects ordered by x, absent last."""
    objects = torch.cat([z_pres[..., None], z_where, z_what], -1) * z_pres[..., None]     # (M, N, 4 + Z)
    key = torch.where(z_pres > 0, z_where[..., 1], torch.full_like(z_pres, float("inf")))
    order = key.argsort(dim=1, stable=True)                                               # (M, N)
    return objects.gather(1, order[..., None].expand_as(objects)).flatten(1)


def hidden_layers(inputs: int, width: int, depth: int) -> tuple[list[nn.Module], int]:
    """The layers ``LayerNorm, (Linear, ReLU) * depth`` shared by the heads, and their output size."""
    layers, d = [nn.LayerNorm(inputs)], inputs
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU()]
        d = width
    return layers, d


class MLP(nn.Module):
    # Takes a representation (B, D) to class logits (B, K) through `depth` hidden layers.
    def __init__(self, inputs: int, classes: int, width: int, depth: int):
        super().__init__()
        layers, d = hidden_layers(inputs, width, depth)
        self.net = nn.Sequential(*layers, nn.Linear(d, classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class CNN(nn.Module):
    # Takes raw pixels (B, 50, 50) to class logits (B, K): strided convolutions, then a linear layer.
    def __init__(self, classes: int, width: int, depth: int):
        super().__init__()
        layers, c = [nn.Conv2d(1, width, 3, 2, 1), nn.ReLU()], width              # -> 25x25
        for _ in range(depth):
            layers += [nn.Conv2d(c, 2 * c, 3, 2, 1), nn.ReLU()]                    # -> 13x13, 7x7
            c *= 2
        self.net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(c * 16, classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x[:, None])


class ObjectMLP(nn.Module):
    """A head that reads AIR's code object by object: one MLP shared by the objects (each
    ``[z_pres, z_where, z_what]``), their outputs concatenated in left-to-right order, then a hidden
    layer to the logits. Sharing means every labelled image teaches the head about two digits."""

    def __init__(self, per_object: int, objects: int, classes: int, width: int, depth: int):
        super().__init__()
        self.per_object, self.objects = per_object, objects
        layers, d = hidden_layers(per_object, width, depth)
        self.object = nn.Sequential(*layers)                                   # (B, N, per) -> (B, N, d)
        self.out = nn.Sequential(nn.Linear(objects * d, width), nn.ReLU(), nn.Linear(width, classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.object(x.view(len(x), self.objects, self.per_object)).flatten(1))


def steps_for(n: int, cfg: StudyConfig) -> int:
    """Adam steps for ``n`` labelled images: ``epochs`` passes, within [min_steps, max_steps]."""
    return int(min(cfg.max_steps, max(cfg.min_steps, cfg.epochs * n / cfg.batch)))


def fit(inputs: Tensor, targets: Tensor, head: nn.Module, cfg: StudyConfig, seed: int) -> nn.Module:
    """Trains ``head`` by cross-entropy with AdamW for ``steps_for(len(inputs))`` steps of ``cfg.batch`` examples."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    head.train()
    for _ in range(steps_for(len(inputs), cfg)):
        idx = torch.randint(len(inputs), (min(cfg.batch, len(inputs)),), generator=gen)
        loss = nn.functional.cross_entropy(head(inputs[idx]), targets[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return head.eval()


@torch.no_grad()
def accuracy(head: nn.Module, inputs: Tensor, targets: Tensor) -> float:
    return sum((head(x).argmax(1) == y).sum().item() for x, y in zip(inputs.split(1000), targets.split(1000))) / len(inputs)


def grid(cfg: StudyConfig, rep: str) -> list[tuple[str, int, int]]:
    """The (head, width, depth) triples tried for one representation: a CNN for pixels, MLPs for
    codes, and for AIR's code also the object-wise head."""
    if rep == "pixels":
        return [("cnn", w, d) for w in cfg.cnn_widths for d in cfg.cnn_depths]
    kinds = ("mlp", "objects") if rep == "AIR" else ("mlp",)
    return [(k, w, d) for k in kinds for w in cfg.widths for d in cfg.depths]


def make_head(kind: str, inputs: int, classes: int, width: int, depth: int, objects: int = 3) -> nn.Module:
    if kind == "cnn":
        return CNN(classes, width, depth)
    if kind == "objects":
        return ObjectMLP(inputs // objects, objects, classes, width, depth)
    if kind == "mlp":
        return MLP(inputs, classes, width, depth)
    raise ValueError(f"unknown head {kind!r}: expected cnn, objects or mlp")


def run_study(features: dict[str, dict[str, Tensor]], targets: dict[str, dict[str, Tensor]], cfg: StudyConfig,
              progress=None, jobs: int = 1) -> dict:
    """Fits every representation, task, label count and seed; the head is chosen on the validation set.

    Args:
        features: representation -> {"pool" | "valid" | "test": (M, D) features, or (M, 50, 50) float pixels
            for the representation ``"pixels"``}.
        targets: part -> {task: (M,) int64}.
        jobs: representations fitted at once, in separate processes of one thread each.

    Returns:
        ``results[rep][task]`` = {"n": label counts, "accuracy": [[test accuracy per seed] per n],
        "chosen": [[[head, width, depth] per seed] per n], "seconds": fitting time}.
    """
    if jobs > 1 and len(features) > 1:
        from concurrent.futures import ProcessPoolExecutor
        import multiprocessing
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {rep: pool.submit(_study_one, rep, parts, targets, cfg, None) for rep, parts in features.items()}
            return {rep: f.result() for rep, f in futures.items()}
    return {rep: _study_one(rep, parts, targets, cfg, progress) for rep, parts in features.items()}


def _study_one(rep: str, parts: dict[str, Tensor], targets: dict, cfg: StudyConfig, progress) -> dict:
    torch.set_num_threads(1)
    out = {}
    for task in TASKS:
        t0, accs, chosen = time.perf_counter(), [], []
        for n in cfg.label_counts:
            row, pick = [], []
            for seed in cfg.seeds:
                # the labelled subset: the first n of a seeded permutation of the pool
                idx = torch.randperm(len(parts["pool"]), generator=torch.Generator().manual_seed(seed))[:n]
                x, y = parts["pool"][idx], targets["pool"][task][idx]
                best = None
                for kind, width, depth in grid(cfg, rep):
                    torch.manual_seed(seed)
                    head = fit(x, y, make_head(kind, x.shape[-1], CLASSES[task], width, depth), cfg, seed)
                    val = accuracy(head, parts["valid"], targets["valid"][task])
                    if best is None or val > best[0]:
                        best = (val, head, [kind, width, depth])
                row.append(accuracy(best[1], parts["test"], targets["test"][task]))
                pick.append(best[2])
                if progress:
                    progress(f"{rep} {task} n={n} seed {seed}: {row[-1]:.3f} {best[2]}")
            accs.append(row)
            chosen.append(pick)
        out[task] = dict(n=list(cfg.label_counts), accuracy=accs, chosen=chosen, seconds=time.perf_counter() - t0)
    return out
