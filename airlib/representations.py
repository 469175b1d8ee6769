"""Representational power (Sec. II-B, Fig. 7): how well each learned code serves two downstream tasks.

Images of exactly two digits, their labels from the generator's ground truth:

* **sum**: the sum of the two digits' classes (19 classes, 0 to 18);
* **ascending**: 1 if the digits, read left to right, are in non-decreasing order (the left one's
  class is at most the right one's), else 0. "Left" compares the centres of the digits' ink boxes;
  at equal centres (one digit above the other) the upper one is read first.

Each representation feeds a classifier trained on ``n`` labelled images (the first ``n`` of a seeded
shuffle of the pool), for ``n`` log-spaced from 10 to 10,000. Every fit is early-stopped on a
validation set of 1,000 labelled images, which also chooses the head from a stated grid (kind,
width, depth, weight decay) per representation, task and ``n``; the chosen head is scored once on
held-out images of MNIST test digits. ``n`` counts training labels only.

* AIR: per object its posterior means ``[z_pres, z_where, z_what]`` (``z_pres`` its mode),
  standardised, read by an MLP on the objects **sorted by their window's horizontal position**
  (absent ones zeroed and last), by a network shared by the objects whose outputs are concatenated
  in that order, or by a **symmetric** head that sums the shared network's per-object vectors;
* the convolutional autoencoder's code (``cae.py``) and DRAW's 40 latent means (``draw.py``),
  standardised, through MLPs;
* raw pixels, through a CNN trained end to end.

A linear probe of AIR's ``z_what`` for the digit's class (:mod:`airlib.digit_probe`) tells how much of the
identity the code holds, apart from what a head makes of it.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from .profiles import select

TASKS = ("sum", "ascending")
CLASSES = {"sum": 19, "ascending": 2}


@dataclass(frozen=True)
class StudyConfig:
    """The downstream study's sizes, grid and training budget."""
    n_pool: int = 10000                       # labelled two-digit images (MNIST training digits) ...
    n_valid: int = 1000                       # ... a separate set for early stopping and the grid ...
    n_test: int = 2000                        # ... and held-out images (MNIST test digits)
    label_counts: tuple[int, ...] = (10, 100, 1000, 10000)
    seeds: tuple[int, ...] = (0, 1, 2)
    code_seeds: tuple[int, ...] = (0, 1, 2)   # AIR's codes: chapter 2's seeds (the first chooses the head)
    # Every representation's grid has 8 heads, fitted under the same budget and early stopping.
    widths: tuple[int, ...] = (64, 256)       # the MLPs on the CAE's and DRAW's codes: hidden units ...
    depths: tuple[int, ...] = (1, 2)          # ... hidden layers ...
    weight_decays: tuple[float, ...] = (1e-4, 1.0)   # ... and AdamW's decoupled weight decay
    air_heads: tuple[str, ...] = ("mlp", "sorted", "symmetric", "digits")   # AIR's heads (per object where so) ...
    air_widths: tuple[int, ...] = (64, 256)
    air_depths: tuple[int, ...] = (2,)
    air_weight_decays: tuple[float, ...] = (1.0,)
    cnn_kinds: tuple[str, ...] = ("cnn", "pooled")   # the CNNs on pixels: strided, or LeNet-like with pooling ...
    cnn_widths: tuple[int, ...] = (8, 16)     # ... channels of the first convolution ...
    cnn_depths: tuple[int, ...] = (2,)        # ... blocks after the first ...
    cnn_weight_decays: tuple[float, ...] = (1e-4, 1e-2)
    batch: int = 64
    lr: float = 1e-3
    epochs: int = 100                         # a fit's budget: this many passes over its labelled images, ...
    min_steps: int = 5000                     # ... within these bounds on the Adam steps
    max_steps: int = 20000
    eval_every: int = 50                      # steps between validation checks (at least one pass) ...
    patience: int = 1000                      # ... and Adam steps without a better check before a fit stops
    probe_weight_decay: float = 1e-4          # the linear probe of z_what for the digit's class
    data_seed: int = 3000                     # the two-digit sets' generator seed (apart from every other set)


STUDY = {"smoke": StudyConfig(n_pool=200, n_valid=100, n_test=200, label_counts=(10, 100, 200), seeds=(0,),
                              code_seeds=(0,), widths=(16,), depths=(1,), weight_decays=(1e-4,), air_widths=(16,),
                              air_depths=(1,), air_weight_decays=(1e-4,), cnn_widths=(4,), cnn_depths=(1,),
                              cnn_weight_decays=(1e-4,),
                              epochs=5, min_steps=10, max_steps=20, eval_every=5, patience=10),
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
    """``{"pool" | "valid" | "test": (images uint8 (M, 50, 50), targets)}`` of the study; the targets are
    the tasks' and, for the probe, ``"digits"`` (M, 2) and their ink ``"boxes"`` (M, 2, 4)."""
    from .data import make_multi_mnist
    cfg = study_config(profile)
    out = {}
    for part, n, split, offset in (("pool", cfg.n_pool, "train", 0), ("valid", cfg.n_valid, "train", 1),
                                   ("test", cfg.n_test, "test", 0)):
        d = make_multi_mnist(n, (2,), split, cfg.data_seed + offset)
        out[part] = (torch.from_numpy(d.images), {**two_digit_labels(d.labels, d.boxes),
                                                  "digits": torch.from_numpy(d.labels),
                                                  "boxes": torch.from_numpy(d.boxes)})
    return out


# --- the codes: AIR's objects, standardised --------------------------------------------------------------------

def air_objects(model, images: Tensor) -> Tensor:
    """AIR's objects ``[z_pres, z_where (s, x, y), z_what]``: (M, N, 4 + Z), from ``model.infer``, which
    takes the posterior means of ``z_where`` and ``z_what`` and the mode of ``z_pres``."""
    inf = model.infer(images)
    return torch.cat([inf.z_pres[..., None], inf.z_where, inf.z_what], -1)


class Standard(NamedTuple):
    """Per-column statistics that standardise a code: ``(x - mean) / sd``."""
    mean: Tensor
    sd: Tensor

    @classmethod
    def of(cls, x: Tensor) -> "Standard":
        """The statistics of the rows of ``x`` (none with fewer than two rows: mean 0, sd 1)."""
        if len(x) < 2:
            return cls(x.new_zeros(x.shape[1:]), x.new_ones(x.shape[1:]))
        return cls(x.mean(0), x.std(0).clamp_min(1e-6))

    def __call__(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.sd


def object_statistics(objects: Tensor) -> Standard:
    """The statistics of ``[z_where, z_what]`` over the present objects of ``objects`` (M, N, 4 + Z),
    every slot pooled, so one shared object network sees every slot on one scale."""
    return Standard.of(objects[..., 1:][objects[..., 0] > 0])


def sort_objects(z_pres: Tensor, z_where: Tensor, z_what: Tensor) -> Tensor:
    """``(M, N)``, ``(M, N, 3)``, ``(M, N, Z)`` -> (M, N * (4 + Z)), objects ordered by x, absent last."""
    objects = torch.cat([z_pres[..., None], z_where, z_what], -1) * z_pres[..., None]     # (M, N, 4 + Z)
    key = torch.where(z_pres > 0, z_where[..., 1], torch.full_like(z_pres, float("inf")))
    order = key.argsort(dim=1, stable=True)                                               # (M, N)
    return objects.gather(1, order[..., None].expand_as(objects)).flatten(1)


def air_code(objects: Tensor, stats: Standard) -> Tensor:
    """AIR's code for the heads: (M, N, 4 + Z) -> (M, N * (4 + Z)), ``z_where`` and ``z_what`` standardised
    by ``stats``, ``z_pres`` kept 0 or 1, objects sorted left to right with absent ones zeroed and last, so
    permuting the inference's slots leaves the code unchanged."""
    z = stats(objects[..., 1:])                     # a positive scale keeps the order of x
    return sort_objects(objects[..., 0], z[..., :3], z[..., 3:])


def prepare(rep: str, parts: dict[str, Tensor]) -> dict[str, Tensor]:
    """The heads' inputs: pixels as they are; AIR's objects by :func:`air_code`, every other code
    standardised per column. The statistics are the whole pool's (10,000 images in the paper profile):
    its codes are computed without labels, so every ``n`` shares them and none sees the test set."""
    if rep == "pixels":
        return parts
    if rep == "AIR":
        stats = object_statistics(parts["pool"])
        return {p: air_code(x, stats) for p, x in parts.items()}
    stats = Standard.of(parts["pool"])
    return {p: stats(x) for p, x in parts.items()}


# --- the heads ---------------------------------------------------------------------------------------------------

def hidden_layers(inputs: int, width: int, depth: int) -> tuple[list[nn.Module], int]:
    """The layers ``(Linear, ReLU) * depth`` shared by the heads, and their output size."""
    layers, d = [], inputs
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


class PooledCNN(nn.Module):
    # Takes raw pixels (B, 50, 50) to class logits (B, K), LeNet-like: `depth` + 1 blocks of a 3x3 convolution
    # and 2x2 max-pooling (channels doubling from `width`), then a hidden layer of 256 units.
    def __init__(self, classes: int, width: int, depth: int):
        super().__init__()
        layers, c_in, size = [], 1, 50
        for i in range(depth + 1):
            layers += [nn.Conv2d(c_in, width << i, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c_in, size = width << i, size // 2                                     # 25, 12, 6, ...
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * size * size, 256), nn.ReLU(),
                                 nn.Linear(256, classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x[:, None])


class SortedObjectHead(nn.Module):
    """AIR's sorted code read object by object: one network shared by the objects (each ``[z_pres,
    z_where, z_what]``), their outputs concatenated left to right, then a hidden layer to the logits."""

    def __init__(self, per_object: int, objects: int, classes: int, width: int, depth: int):
        super().__init__()
        self.per_object, self.objects = per_object, objects
        layers, d = hidden_layers(per_object, width, depth)
        self.object = nn.Sequential(*layers)                                   # (B, N, per) -> (B, N, d)
        self.out = nn.Sequential(nn.Linear(objects * d, width), nn.ReLU(), nn.Linear(width, classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.object(x.view(len(x), self.objects, self.per_object)).flatten(1))


class SymmetricObjectHead(nn.Module):
    """AIR's code as a set: one network shared by the objects, its vectors summed over the present
    ones, then a small MLP to the logits, ``rho(sum_i z_pres^i phi(o^i))``: the same for any order of
    the objects, and generic for any task on a set of objects. ``phi`` sees each object's position, so
    order stays expressible: for two digits ``d`` at ``x``, ``sum_i x^i d^i - (sum_i x^i)(sum_i d^i) / 2``
    is half of ``(x^2 - x^1)(d^2 - d^1)``, whose sign says whether they ascend."""

    def __init__(self, per_object: int, objects: int, classes: int, width: int, depth: int):
        super().__init__()
        self.per_object, self.objects = per_object, objects
        layers, d = hidden_layers(per_object, width, depth)
        self.object = nn.Sequential(*layers)                                   # (B, N, per) -> (B, N, d)
        self.out = nn.Sequential(nn.Linear(d, width), nn.ReLU(), nn.Linear(width, classes))

    def forward(self, x: Tensor) -> Tensor:
        o = x.view(len(x), self.objects, self.per_object)
        return self.out((self.object(o) * o[..., :1]).sum(1))                 # z_pres masks absent objects


class DigitHead(nn.Module):
    """AIR's objects read as digits, combined by the task's own arithmetic.

    One network shared by the objects maps each present object's ``[z_where, z_what]`` to a distribution
    ``p_i`` over the ten digits; an absent object is the digit 0. It is trained on the task's labels alone,
    never on digit labels: the ten classes are whatever makes the arithmetic come out right.

    * sum: ``p(s) = (p_1 * p_2 * p_3)(s)``, the convolution of the objects' distributions (Eq. of a sum
      of independent digits), read at ``s = 0..18``;
    * ascending: with the objects sorted left to right (present first, :func:`air_code`),
      ``p(asc) = P(d_1 <= d_2) = sum_a p_1(a) sum_{b >= a} p_2(b)``.
    """

    def __init__(self, per_object: int, objects: int, task: str, width: int, depth: int, digits: int = 10):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
        self.per_object, self.objects, self.task, self.digits = per_object, objects, task, digits
        layers, d = hidden_layers(per_object - 1, width, depth)
        self.object = nn.Sequential(*layers, nn.Linear(d, digits))            # (B, N, per - 1) -> (B, N, 10)

    def digit_probs(self, x: Tensor) -> Tensor:
        """(B, N * per) -> (B, N, 10): each object's distribution over digits, an absent one all on 0."""
        o = x.view(len(x), self.objects, self.per_object)
        p = self.object(o[..., 1:]).softmax(-1)
        zero = torch.zeros_like(p)
        zero[..., 0] = 1.0
        return torch.where(o[..., :1] > 0, p, zero)

    def forward(self, x: Tensor) -> Tensor:
        p = self.digit_probs(x)                                                 # (B, N, 10)
        if self.task == "sum":
            dist = p[:, 0]
            for i in range(1, self.objects):                                    # (B, L) * (B, 10) -> (B, L + 9)
                dist = _convolve(dist, p[:, i])
            prob = dist[:, :CLASSES["sum"]]
        else:
            up = p[:, 1].flip(-1).cumsum(-1).flip(-1)                           # P(d_2 >= a): (B, 10)
            asc = (p[:, 0] * up).sum(-1)
            prob = torch.stack([1 - asc, asc], -1)
        return prob.clamp_min(1e-12).log()                                      # log-probabilities as logits


def _convolve(a: Tensor, b: Tensor) -> Tensor:
    """The distribution of the sum of independent integers: (B, L), (B, K) -> (B, L + K - 1)."""
    out = a.new_zeros(len(a), a.shape[1] + b.shape[1] - 1)
    for k in range(b.shape[1]):
        out[:, k:k + a.shape[1]] = out[:, k:k + a.shape[1]] + a * b[:, k:k + 1]
    return out


class Head(NamedTuple):
    """One point of a representation's grid."""
    kind: str               # mlp, sorted, symmetric, digits (AIR's objects) or cnn, pooled (pixels)
    width: int
    depth: int
    weight_decay: float


def grid(cfg: StudyConfig, rep: str) -> list[Head]:
    """The heads tried for one representation: CNNs for pixels (``cfg.cnn_kinds``), MLPs for codes, and for
    AIR's code the heads of ``cfg.air_heads``; every representation's grid has the same size."""
    if rep == "pixels":
        return [Head(k, w, d, wd) for k in cfg.cnn_kinds for w in cfg.cnn_widths for d in cfg.cnn_depths
                for wd in cfg.cnn_weight_decays]
    if rep == "AIR":
        return [Head(k, w, d, wd) for k in cfg.air_heads for w in cfg.air_widths for d in cfg.air_depths
                for wd in cfg.air_weight_decays]
    return [Head("mlp", w, d, wd) for w in cfg.widths for d in cfg.depths for wd in cfg.weight_decays]


HEADS = ("cnn", "pooled", "mlp", "sorted", "symmetric", "digits")


def make_head(kind: str, inputs: int, task: str, width: int, depth: int, objects: int = 3) -> nn.Module:
    """A freshly initialised head of ``kind`` for ``task`` on inputs of size ``inputs`` (per image)."""
    if task not in CLASSES:
        raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    classes = CLASSES[task]
    if kind == "cnn":
        return CNN(classes, width, depth)
    if kind == "pooled":
        return PooledCNN(classes, width, depth)
    if kind in ("sorted", "symmetric"):
        return (SortedObjectHead if kind == "sorted" else SymmetricObjectHead)(inputs // objects, objects, classes,
                                                                              width, depth)
    if kind == "digits":
        return DigitHead(inputs // objects, objects, task, width, depth)
    if kind == "mlp":
        return MLP(inputs, classes, width, depth)
    raise ValueError(f"unknown head {kind!r}: expected one of {', '.join(HEADS)}")


# --- fitting, early-stopped on the validation set ----------------------------------------------------------------

def steps_for(n: int, cfg: StudyConfig) -> int:
    """The most Adam steps for ``n`` labelled images: ``epochs`` passes, within [min_steps, max_steps]."""
    return int(min(cfg.max_steps, max(cfg.min_steps, cfg.epochs * math.ceil(n / cfg.batch))))


def check_every(n: int, cfg: StudyConfig) -> int:
    """Steps between validation checks: ``eval_every``, and at least one pass over ``n`` images."""
    return max(cfg.eval_every, math.ceil(n / cfg.batch))


class Fit(NamedTuple):
    head: nn.Module             # in eval mode, holding the state of the best check
    valid_accuracy: float       # that state's validation accuracy ...
    valid_loss: float           # ... and loss
    step: int                   # the Adam step of that state
    steps: int                  # the steps taken before stopping
    stopped: str                # "patience" (converged) or "budget" (steps_for ran out first)
    curve: list                 # [(step, validation accuracy)] at every check


@torch.no_grad()
def evaluate(head: nn.Module, inputs: Tensor, targets: Tensor) -> tuple[float, float]:
    """``(accuracy, mean cross-entropy)`` of ``head`` on a labelled set."""
    hits, loss = 0, 0.0
    for x, y in zip(inputs.split(250), targets.split(250)):               # chunks that stay in cache
        logits = head(x)
        hits += (logits.argmax(1) == y).sum().item()
        loss += nn.functional.cross_entropy(logits, y, reduction="sum").item()
    return hits / len(inputs), loss / len(inputs)


def accuracy(head: nn.Module, inputs: Tensor, targets: Tensor) -> float:
    return evaluate(head.eval(), inputs, targets)[0]


def fit(inputs: Tensor, targets: Tensor, head: nn.Module, cfg: StudyConfig, seed: int,
        valid: tuple[Tensor, Tensor], weight_decay: float = 0.0) -> Fit:
    """Trains ``head`` by cross-entropy with AdamW, early-stopped on the validation set.

    Shuffled passes over the labelled images in minibatches of ``min(batch, n)``; every
    :func:`check_every` steps the head is scored on ``valid``, and the state with the best validation
    accuracy (ties: the lower loss) is kept. The fit stops once ``patience`` steps have passed since the best
    check, or when :func:`steps_for` runs out. The validation set (1,000 labelled images in the paper
    profile) is thus seen by every fit; ``n`` counts only the training labels.

    Args:
        inputs, targets: the ``n`` labelled training examples, (n, ...) and (n,) int64.
        head: the classifier, freshly initialised.
        seed: the stream of the minibatches.
        valid: ``(inputs, targets)`` of the validation set.
        weight_decay: AdamW's decoupled weight decay.

    Returns:
        A :class:`Fit`.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=weight_decay)
    n, budget, every = len(inputs), steps_for(len(inputs), cfg), check_every(len(inputs), cfg)
    batches = iter(())
    best, state, step, curve = (-1.0, math.inf, 0), None, 0, []
    while step < budget and step - best[2] < cfg.patience:
        head.train()
        for _ in range(min(every, budget - step)):
            idx = next(batches, None)
            if idx is None:                                                   # a new pass
                batches = iter(torch.randperm(n, generator=gen).split(min(cfg.batch, n)))
                idx = next(batches)
            loss = nn.functional.cross_entropy(head(inputs[idx]), targets[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
        acc, val_loss = evaluate(head.eval(), *valid)
        curve.append((step, acc))
        if (acc, -val_loss) > (best[0], -best[1]):
            best, state = (acc, val_loss, step), copy.deepcopy(head.state_dict())
    head.load_state_dict(state)
    return Fit(head.eval(), best[0], best[1], best[2], step, "budget" if step >= budget else "patience", curve)


# --- the study -----------------------------------------------------------------------------------------------------

def run_study(features: dict[str, list[dict[str, Tensor]]], targets: dict[str, dict[str, Tensor]], cfg: StudyConfig,
              progress=None, jobs: int = 1, done=None) -> dict:
    """Fits every representation, task, label count and seed; for AIR also the probe (:func:`airlib.digit_probe.digit_probe`).

    For each representation, task and ``n``, every head of the grid is fitted on the first code's features
    with the first seed's labelled subset, and the best on the validation set is chosen; every other pair of
    code (a representation trained with another seed) and seed (another labelled subset and initialisation)
    refits the chosen head.

    Args:
        features: representation -> one entry per code seed, each {"pool" | "valid" | "test": (M, D) codes,
            AIR's (M, N, 4 + Z) objects (:func:`air_objects`) for ``"AIR"``, or (M, 50, 50) float pixels for
            ``"pixels"``}.
        targets: part -> {task: (M,) int64, "digits": (M, 2), "boxes": (M, 2, 4)}.
        jobs: representations fitted at once, in separate processes of one thread each.
        done: called as ``done(rep, results[rep])`` as each representation finishes (to keep it on disk).

    Returns:
        ``results[rep][task]`` = {"n": label counts, "codes": how many codes, "grid": the heads tried, "chosen":
        [head per n], "tried": [[validation accuracy per grid head] per n], "curve": [[(step, validation
        accuracy) per check] of the chosen head's first fit, per n], and per n, code and seed (code-major):
        "accuracy" (test), "valid" (validation accuracy), "step" (the Adam step kept), "stopped" ("patience" |
        "budget"), as [[value per code and seed] per n]; "seconds" and "cpu_seconds": the fits' wall and CPU
        time (one thread, so core-seconds)}; ``results["AIR"]["probe"]``, one per code.
    """
    out, done = {}, done or (lambda rep, result: None)
    if jobs > 1 and len(features) > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed
        import multiprocessing
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_study_one, rep, codes, targets, cfg, None): rep for rep, codes in features.items()}
            for f in as_completed(futures):
                out[futures[f]] = f.result()
                done(futures[f], out[futures[f]])
    else:
        for rep, codes in features.items():
            out[rep] = _study_one(rep, codes, targets, cfg, progress)
            done(rep, out[rep])
    return {rep: out[rep] for rep in features}


def _study_one(rep: str, raws: list[dict[str, Tensor]], targets: dict, cfg: StudyConfig, progress) -> dict:
    torch.set_num_threads(1)
    codes, heads, out = [prepare(rep, raw) for raw in raws], grid(cfg, rep), {}
    for task in TASKS:
        t0, c0 = time.perf_counter(), time.process_time()
        res = {k: [] for k in ("chosen", "tried", "curve", "accuracy", "valid", "step", "stopped")}
        for n in cfg.label_counts:
            row = {k: [] for k in ("accuracy", "valid", "step", "stopped")}
            for c, parts in enumerate(codes):
                valid = (parts["valid"], targets["valid"][task])
                for seed in cfg.seeds:
                    # the labelled subset: the first n of a seeded permutation of the pool
                    idx = torch.randperm(len(parts["pool"]), generator=torch.Generator().manual_seed(seed))[:n]
                    x, y = parts["pool"][idx], targets["pool"][task][idx]
                    first = c == 0 and seed == cfg.seeds[0]
                    fits = []
                    for h in (heads if first else [chosen]):
                        torch.manual_seed(seed)
                        fits.append(fit(x, y, make_head(h.kind, x.shape[-1], task, h.width, h.depth), cfg, seed,
                                        valid, h.weight_decay))
                    if first:
                        best = max(range(len(heads)), key=lambda i: (fits[i].valid_accuracy, -fits[i].valid_loss))
                        chosen, f = heads[best], fits[best]
                        res["chosen"].append(list(chosen))
                        res["tried"].append([g.valid_accuracy for g in fits])
                        res["curve"].append(f.curve)
                    else:
                        f = fits[0]
                    for k, v in (("accuracy", accuracy(f.head, parts["test"], targets["test"][task])),
                                 ("valid", f.valid_accuracy), ("step", f.step), ("stopped", f.stopped)):
                        row[k].append(v)
                    if progress:
                        progress(f"{rep} {task} n={n} code {c} seed {seed}: {row['accuracy'][-1]:.3f} {list(chosen)} "
                                 f"(valid {f.valid_accuracy:.3f}, step {f.step} of {f.steps}, {f.stopped})")
            for k in row:
                res[k].append(row[k])
        out[task] = dict(n=list(cfg.label_counts), codes=len(codes), grid=[list(h) for h in heads], **res,
                         seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)
    if rep == "AIR":
        from .digit_probe import digit_probe         # the probe builds on this module's fits
        out["probe"] = [digit_probe(raw, targets, cfg) for raw in raws]
        if progress:
            progress(f"AIR probe: {out['probe']}")
    return out
