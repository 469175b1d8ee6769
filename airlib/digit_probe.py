"""A linear probe of AIR's ``z_what`` for digit identity (Sec. II-B): how much of each digit's class the code holds.

Each ground-truth digit is paired with the window that found it (:func:`match_digits`, a one-to-one
assignment minimising the distance between window and ink-box centres); a multinomial logistic
regression then reads the digit's class from the matched object's standardised ``z_what``.
This is a diagnostic beside the downstream study of :mod:`airlib.representations`: it uses the
digits' labels, which the downstream tasks do not.
"""
from __future__ import annotations

import itertools
import time

import numpy as np
import torch
from torch import Tensor, nn

from .representations import StudyConfig, accuracy, fit, object_statistics

def assignment(cost: np.ndarray) -> list[tuple[int, int]]:
    """The one-to-one pairs ``(row, column)`` of ``min(rows, columns)`` that minimise the summed ``cost``
    (every assignment enumerated: for the few objects and digits of an image)."""
    a, b = cost.shape
    if a > b:
        return [(i, j) for j, i in assignment(cost.T)]
    best = min(itertools.permutations(range(b), a), key=lambda p: sum(cost[i, p[i]] for i in range(a)))
    return list(enumerate(best))


def match_digits(objects: Tensor, boxes: Tensor) -> Tensor:
    """The object that found each digit: (M, K) indices into the N slots, -1 where none did.

    Present objects and digits are paired one to one so as to minimise the summed distance between
    each window's centre and its digit's ink-box centre (:func:`assignment`); a pair counts only if the
    window's centre lies inside the digit's ink box.

    Args:
        objects: (M, N, 4 + Z) AIR's objects (:func:`air_objects`) on 50x50 images; boxes: (M, K, 4) ink
            boxes (top, left, bottom, right) in pixels, -1 for no digit.
    """
    centres = ((objects[..., 2:4] + 1) * 25).numpy()                   # (M, N, 2) window centres (x, y), pixels
    present = (objects[..., 0] > 0).numpy()
    boxes = boxes.numpy().astype(float)
    ink = np.stack([(boxes[..., 1] + boxes[..., 3]) / 2, (boxes[..., 0] + boxes[..., 2]) / 2], -1)  # (M, K, 2)
    out = np.full(boxes.shape[:2], -1)
    for m in range(len(boxes)):
        slots, digits = np.flatnonzero(present[m]), np.flatnonzero(boxes[m, :, 0] >= 0)
        cost = np.linalg.norm(centres[m][slots][:, None] - ink[m][digits][None], axis=-1)  # (slots, digits)
        for i, j in assignment(cost):
            (top, left, bottom, right), (x, y) = boxes[m, digits[j]], centres[m, slots[i]]
            if left <= x <= right and top <= y <= bottom:
                out[m, digits[j]] = slots[i]
    return torch.from_numpy(out)


def digit_probe(objects: dict[str, Tensor], targets: dict[str, dict[str, Tensor]], cfg: StudyConfig) -> dict:
    """A linear probe of AIR's ``z_what`` for the digit's class (a diagnostic, with the digits' labels).

    Each digit is matched to an object (:func:`match_digits`); a multinomial logistic regression on the
    matched objects' standardised ``z_what`` (statistics of the pool's present objects) is fitted on the
    pool's digits, early-stopped on the validation set's, and scored on the test set's.

    Returns:
        ``{"accuracy": on the matched test digits, "matched": the share of test digits matched,
        "accuracy_all": the share of all test digits matched and classified right, "train": matched
        pool digits, "seconds"}``.
    """
    t0, stats = time.perf_counter(), object_statistics(objects["pool"])
    data = {}
    for part, o in objects.items():
        slot = match_digits(o, targets[part]["boxes"])                           # (M, K)
        image, digit = (slot >= 0).nonzero(as_tuple=True)
        data[part] = (stats(o[image, slot[image, digit], 1:])[:, 3:], targets[part]["digits"][image, digit],
                      len(image) / slot.numel())
    (x, y, _), matched = data["pool"], data["test"][2]
    acc = None                                                  # no probe where some part matched no digit
    if min(len(d[0]) for d in data.values()):
        torch.manual_seed(0)
        probe = fit(x, y, nn.Linear(x.shape[1], 10), cfg, 0, data["valid"][:2], cfg.probe_weight_decay)
        acc = accuracy(probe.head, *data["test"][:2])
    return dict(accuracy=acc, matched=matched, accuracy_all=None if acc is None else acc * matched, train=len(x),
                seconds=time.perf_counter() - t0)


def order_agreement(objects: Tensor, targets: dict[str, Tensor]) -> dict:
    """How well AIR's windows order two digits: on the images where both digits were found (:func:`match_digits`),
    the share whose true classes, read left to right by their windows' horizontal centres, give the
    "ascending" label (which reads them by their ink boxes'). An upper bound on the order task for any head that
    reads the digits from AIR's objects sorted by position, if it read every digit right.

    Args:
        objects: (M, N, 4 + Z) AIR's objects on two-digit images; targets: their ``"boxes"`` (M, 2, 4),
            ``"digits"`` (M, 2) and ``"ascending"`` (M,).

    Returns:
        ``{"found": the share of images with both digits matched, "agree": the share of those whose order agrees}``.
    """
    slot = match_digits(objects, targets["boxes"])                               # (M, 2)
    both = (slot >= 0).all(1)
    x = objects[..., 2].gather(1, slot.clamp_min(0))                             # (M, 2) window centres' x
    d = targets["digits"]
    asc = torch.where(x[:, 0] <= x[:, 1], d[:, 0] <= d[:, 1], d[:, 1] <= d[:, 0])
    agree = (asc.long() == targets["ascending"])[both]
    return dict(found=both.float().mean().item(), agree=agree.float().mean().item() if len(agree) else None)
