"""Chapter 4's downstream study (Sec. II-B, Fig. 7) as a recorded study: ``representations-results``.

AIR's, the CAE's and DRAW's codes and raw pixels, each fed to classifiers fitted on few to many labels,
early-stopped and chosen from a grid on a validation set, with a linear probe of AIR's ``z_what`` for the
digits' classes (:mod:`airlib.representations`). Each representation's results are kept under the study's
run folder in ``parts/`` with the SHA-256 of what they depend on (the study's configuration, the data, the
source model's weights), so a study that was stopped, or run in parts (``only``), redoes only what changed.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import torch

from .. import representations as reps
from .. import runs
from . import Evaluation, Inputs, Need, register

REPRESENTATIONS = ("AIR", "CAE", "DRAW", "pixels")
SOURCES = {"AIR": "air-multi-mnist", "CAE": "cae-multi-mnist", "DRAW": "draw-multi-mnist"}
CODE_SEEDS = reps.StudyConfig().code_seeds              # AIR's codes: chapter 2's seeds (paper profile)
NAME = "representations-results"


def _data(profile: str) -> dict[str, torch.Tensor]:
    return {f"{p}_images": x for p, (x, _) in reps.two_digit_sets(profile).items()}


def compute(inputs: Inputs, profile: str, jobs: int = 2, only=None, progress=print, parts_dir: Path | None = None):
    """The study's metrics per representation and task (and AIR's probe), the majority class's share of the test
    images per task (``"majority"``), and the test sums as a tensor; None
    when ``only`` left a representation out (its parts are kept, no record is made). A part is reused when its
    key, the SHA-256 of the study's configuration, the images and the source model's weights, is today's."""
    from ..experiments import as_dict
    cfg = reps.study_config(profile)
    wanted = list(REPRESENTATIONS if only is None else only)
    unknown = set(wanted) - set(REPRESENTATIONS)
    if unknown:
        raise ValueError(f"unknown representations {sorted(unknown)}: expected some of {', '.join(REPRESENTATIONS)}")
    seeds = {label: (cfg.code_seeds if label == "AIR" else (0,)) for label in SOURCES}
    models = {label: [inputs.model(SOURCES[label], s) for s in seeds[label]] for label in SOURCES if label in wanted}
    sets = reps.two_digit_sets(profile)
    hashes = runs.data_hashes({f"{p}_images": x for p, (x, _) in sets.items()})
    torch.set_num_threads(1)
    encode = {"AIR": lambda m, x: reps.air_objects(m, x), "CAE": lambda m, x: m.encode(x),
              "DRAW": lambda m, x: m.encode(x).flatten(1), "pixels": lambda m, x: x.float() / 255.0}
    if parts_dir is None:
        parts_dir = (runs.RUNS / f"{NAME}-{profile}" if profile == "paper" else Path(tempfile.mkdtemp())) / "parts"
    parts_dir.mkdir(parents=True, exist_ok=True)

    def key(rep):
        source = [m.record["weights_sha256"] for m in models[rep]] if rep in SOURCES else "pixels"
        return hashlib.sha256(json.dumps([as_dict(cfg), hashes, source]).encode()).hexdigest()

    results, todo = {}, {}
    for rep in wanted:
        part = parts_dir / f"{rep}.json"
        kept = json.loads(part.read_text()) if part.exists() else {}
        if kept.get("key") == key(rep):
            results[rep] = kept["results"]
        else:
            todo[rep] = [{p: encode[rep](m, x) for p, (x, _) in sets.items()} for m in models.get(rep, [None])]
    targets = {p: y for p, (_, y) in sets.items()}

    def keep(rep, res):                      # each representation's part as soon as it is done
        runs.write_json(parts_dir / f"{rep}.json", {"key": key(rep), "results": res})
        results[rep] = res
    reps.run_study(todo, targets, cfg, progress, jobs, done=keep)
    if set(wanted) != set(REPRESENTATIONS):
        return None
    majority = {t: torch.bincount(targets["test"][t]).max().item() / len(targets["test"][t]) for t in reps.TASKS}
    return {**{rep: results[rep] for rep in REPRESENTATIONS}, "majority": majority}, {"test_sum": targets["test"]["sum"]}


STUDY = register(Evaluation(NAME, "chapter 4: downstream fits on AIR's, the CAE's, DRAW's codes and pixels (Fig. 7)",
                            (Need(SOURCES["AIR"], CODE_SEEDS),
                             *(Need(e, label=label) for label, e in SOURCES.items() if label != "AIR")),
                            reps.study_config, _data, compute))
