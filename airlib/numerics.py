"""Training numerics pinned: per model family, the SHA-256 of the weights a short deterministic training ends with.

A family is one training code path (AIR, DAIR, DRAW, the CAE, the 3D networks, each table-top method). Its
fingerprint trains the family's experiment for :data:`STEPS` steps of the smoke profile, seed 0, one thread, and
hashes the model's float32 weights. ``artifacts/numerics.json`` holds the committed fingerprints with the platform
they were computed on (torch's version and CPU capability: other kernels give other bits); ``make test`` checks
them, so a change that alters training numerics fails until the developer who means it updates the file
(``python -m airlib numerics --update``). Each training record states its family's committed fingerprint
(``record["numerics"]``); a record whose fingerprint is no longer the committed one was trained by earlier
numerics, and a retrain will differ from it (:func:`stale`).
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import torch

from . import experiments, runs

STEPS = 20                                   # short, yet every part of a training step has run
FILE = runs.ROOT / "artifacts" / "numerics.json"
FAMILIES = {                                 # family -> the experiment whose training is fingerprinted
    "AIR": "air-multi-mnist", "DAIR": "dair-multi-mnist", "DRAW": "draw-multi-mnist", "CAE": "cae-multi-mnist",
    "3D AIR": "3d-air", "3D supervised": "3d-supervised",
    "table-top AIR": "tabletop-air", "table-top DAIR": "tabletop-dair", "table-top supervised": "tabletop-supervised",
    "table-top sleep": "tabletop-air-sleep-type", "table-top wake": "tabletop-air-wake-perturbed",
    "table-top wake-sleep": "tabletop-air-wake-sleep-perturbed",
}


def _key(name: str) -> tuple:
    """What decides an experiment's training code path: its class, method and (AIR) whether it reads differences."""
    exp = experiments.get(name)
    model_cfg = experiments.config(name, "smoke")[0]
    return type(exp).__name__, getattr(exp, "method", None), getattr(model_cfg, "difference", None)


def family(name: str) -> str | None:
    """The family of experiment ``name`` (:data:`FAMILIES`), or None when no family shares its code path."""
    key = _key(name)
    return next((f for f, rep in FAMILIES.items() if _key(rep) == key), None)


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of a model's parameters and buffers at full precision, in the order of their sorted names."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def platform() -> dict:
    """The platform a fingerprint holds on: torch's version, the CPU kernels it dispatches to and the CPU's model
    (MKL's kernels differ by maker: the same code and seed gave other numbers on another AVX512 machine)."""
    return {"torch": str(torch.__version__), "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
            "cpu_model": runs.cpu_model()}


def fingerprint(fam: str) -> str:
    """Trains family ``fam``'s experiment for :data:`STEPS` smoke steps (seed 0, one thread) in a temporary folder
    and returns its weights' digest."""
    from .train import train
    if fam not in FAMILIES:
        raise ValueError(f"unknown family {fam!r}: expected one of {', '.join(FAMILIES)}")
    threads = torch.get_num_threads()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run = train(FAMILIES[fam], "smoke", 0, run_dir=Path(tmp) / "run", stop_at=STEPS, progress=False,
                        threads=1)
            return weights_digest(run.model)
    finally:
        torch.set_num_threads(threads)


def committed(path: Path = FILE) -> dict:
    """The committed fingerprints ``{"platform": ..., "steps": ..., "families": {family: sha256}}`` (empty when
    there is no file)."""
    return json.loads(Path(path).read_text()) if Path(path).exists() else {}


def for_record(name: str, path: Path = FILE) -> str | None:
    """The committed fingerprint of experiment ``name``'s family, which its training record states."""
    fam = family(name)
    return committed(path).get("families", {}).get(fam) if fam else None


STALE_TEXT = "trained by earlier numerics: a retrain will differ"


def stale(record: dict, path: Path = FILE) -> bool | None:
    """Whether a training record was trained by numerics other than today's committed ones: True (a retrain will
    differ), False, or None when the record predates fingerprints or its family has none."""
    now = for_record(record["experiment"], path)
    if now is None or "numerics" not in record:
        return None
    return record["numerics"] != now


def update(path: Path = FILE) -> dict:
    """Recomputes every family's fingerprint and writes the file (what a change that alters numerics commits)."""
    data = {"platform": platform(), "steps": STEPS, "families": {fam: fingerprint(fam) for fam in FAMILIES}}
    runs.write_json(Path(path), data)
    return data
