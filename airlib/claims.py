"""What reproduced: one row per claim of the paper, this book's number for it, and a verdict.

Each :class:`Claim` quotes the paper and names a ``measure``: a function of the committed records (training
records and studies, never weights) that formats this book's number, with its seeds and spread, and computes
the verdict by the rule in its docstring. :func:`table` gathers them, so the landing page (every row) and a
chapter (its own rows) read one source. Claims are measured on the paper profile's committed records; under
any other profile the rows are listed unmeasured.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import evaluations, runs
from .evaluations.tabletop import CAMERA_COUNT_OK, CAMERA_OK_DEG, COUNT_OK, IDENTITY_OK, SLEEP   # chapter 6's targets
from .profiles import check
from .spread import WIN_SE, beyond_noise, mean_se

VERDICTS = ("reproduced", "partly", "not reproduced")
COLUMNS = ("chapter", "paper's section", "the paper says", "this book", "beyond the paper", "verdict")
WORDS = 45                  # the most words of a "this book" cell: the number and its seeds; details in the chapter


@dataclass(frozen=True)
class Finding:
    """This book's number for a claim (formatted from records, with seeds and spread) and its verdict, and what a
    recipe beyond the paper reaches on the same measure (reported beside, never in the verdict)."""
    number: str
    verdict: str
    beyond: str = ""


NOT_MEASURED = Finding("measured on the paper profile only", "—")
NO_RECORDS = Finding("not measured here: the records of this chapter's runs are not in this build's artifacts", "—")


class Sources:
    """The committed records the claims read (paper profile), each loaded once; no weights, no data hashes."""

    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory or runs.ARTIFACTS)
        self._cache: dict[tuple[str, str], dict] = {}

    def study(self, name: str) -> dict:
        """A committed study's record (``["metrics"]`` holds the study), checked against today's configuration."""
        if ("study", name) not in self._cache:
            self._cache["study", name] = evaluations.load(name, "paper", directory=self.directory)[0]
        return self._cache["study", name]

    def records(self, name: str) -> dict[int, dict]:
        """Every committed seed's training record, checked against today's configuration: seed -> record."""
        from .pretrained import available_seeds, load_record
        if ("records", name) not in self._cache:
            self._cache["records", name] = {s: load_record(name, s, self.directory, data=False)
                                            for s in available_seeds(name, self.directory)}
        return self._cache["records", name]

    def document(self, filename: str) -> dict:
        """A committed JSON file of ``artifacts/`` that is not a run's record (e.g. the recipe ablation)."""
        if ("document", filename) not in self._cache:
            self._cache["document", filename] = json.loads((self.directory / filename).read_text())
        return self._cache["document", filename]

    def measurable(self, chapter: int) -> bool:
        """Whether any run or study that chapter ``chapter`` reads (``reproduce.chapter_reads``) has a record here:
        a reproduction of one chapter holds no other chapter's records."""
        from .reproduce import chapter_reads
        if ("measurable", chapter) not in self._cache:        # once per chapter: it parses the chapter's notebook
            self._cache["measurable", chapter] = any(next(self.directory.glob(f"{name}-seed*.json"), None)
                                                     for name in chapter_reads(chapter))
        return self._cache["measurable", chapter]

    def metric(self, name: str, key: str) -> dict[int, float]:
        """One final metric of every committed seed of ``name``: seed -> value."""
        return {s: r["metrics"][key] for s, r in self.records(name).items()}


@dataclass(frozen=True)
class Claim:
    """A claim of the paper: where it is (book chapter, paper section), its words, and how it is measured."""
    key: str
    chapter: int
    section: str
    paper: str
    measure: Callable[[Sources], Finding]
    title: str = ""         # the claim in a few words, for the landing page's first screen


# --- verdict rules and formatting ----------------------------------------------------------------------------

def by_share(hits: int, total: int) -> str:
    """Over seeds (or networks): reproduced if at least 90% meet the claim, partly if at least half, else not."""
    return VERDICTS[0] if hits >= 0.9 * total else VERDICTS[1] if 2 * hits >= total > 0 else VERDICTS[2]


def by_parts(held: int, parts: int) -> str:
    """Over the parts of one claim: reproduced if every part holds, partly if some do, else not reproduced."""
    return VERDICTS[0] if held == parts else VERDICTS[1] if held > 0 else VERDICTS[2]


def seeds_text(seeds) -> str:
    """``"seed 0"``, ``"seeds 0-9"`` (consecutive) or ``"seeds 0, 2, 5"``."""
    seeds = sorted(int(s) for s in seeds)
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    consecutive = seeds == list(range(seeds[0], seeds[-1] + 1))
    return f"seeds {seeds[0]}-{seeds[-1]}" if consecutive else "seeds " + ", ".join(map(str, seeds))


def span(values, fmt: str = "{:.1%}") -> str:
    """``"lo to hi"`` of some values, or the one value."""
    lo, hi = min(values), max(values)
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)} to {fmt.format(hi)}"


def per_seed(values: dict[int, float], fmt: str = "{:.1%}") -> str:
    """``"25.1%, 89.2%, 50.1% (seeds 0-2)"``: each seed's value in seed order."""
    return ", ".join(fmt.format(values[s]) for s in sorted(values)) + f" ({seeds_text(values)})"


# --- chapter 1: the estimators on the exact toy --------------------------------------------------------------

KL = "KL[q(n|x) || p(n|x)]"


def nvil_posterior(src: Sources) -> Finding:
    """Reproduced if NVIL's trained q(n|x) is off the exact posterior (KL) by at most twice the exact-gradient fit's
    KL, or by at most 0.01 nats more; partly if within ten times; else not reproduced."""
    fits = src.study("toy-estimators")["metrics"]["fits"]
    kl, best = fits["nvil"][KL], fits["exact-gradient fit"][KL]
    verdict = VERDICTS[0] if kl <= max(2 * best, best + 0.01) else VERDICTS[1] if kl <= 10 * best else VERDICTS[2]
    return Finding(f"{KL} {kl:.4f} nats after training with NVIL, {best:.4f} for the exact-gradient fit "
                   "(one seeded study)", verdict)


def baseline_variance(src: Sources) -> Finding:
    """On the parameters of q(z_pres), which only the score-function term reaches: reproduced if the plain score
    function's variance is at least twice NVIL's both at the start and at the best parameters, partly at one."""
    ratios = src.study("toy-estimators")["metrics"]["ratios"]
    at = {point: ratios[f"presence variance, {point}"]["reinforce / nvil"] for point in ("start", "best")}
    total = {point: ratios[f"total variance, {point}"]["reinforce / nvil"] for point in ("start", "best")}
    return Finding(f"on q(z_pres)'s parameters, the plain score function's gradient variance is {at['start']:.1f}x "
                   f"NVIL's at the start and {at['best']:.1f}x at the best parameters (over all parameters "
                   f"{total['start']:.1f}x and {total['best']:.1f}x; one seeded study)",
                   by_parts(sum(r >= 2 for r in at.values()), len(at)))


# --- chapters 2 and 3: multi-MNIST --------------------------------------------------------------------------

COUNT_TARGET = 0.98          # a multi-MNIST run succeeds when it counts 98% of the held-out images right
GENERALIZES, UNABLE = 0.8, 0.1   # count accuracy on an unseen count: "generalizes well", "effectively unable"


def counts(name: str, beyond: dict[str, str] | None = None) -> Callable[[Sources], Finding]:
    def measure(src: Sources) -> Finding:
        """Over the seeds that played no part in choosing the recipe (those its ablation did not run), when there
        are at least 10: reproduced if at least 90% count at least 98% of the held-out images right, partly if at
        least half do, else not reproduced. Without 10 such seeds, over every committed seed, naming the seeds
        the ablation ran. The seeds the recipe was chosen on are reported beside, and each recipe of ``beyond``
        (experiment -> how it goes beyond the paper) on its own seeds, neither entering the verdict."""
        acc = src.metric(name, "test_count_accuracy")
        tuned = chosen_on(src.document("air-multi-mnist-ablation.json"), name) & set(acc)
        fresh = {s: a for s, a in acc.items() if s not in tuned}
        judged = fresh if len(fresh) >= 10 else acc
        images = {src.records(name)[s]["metrics"]["test_images"] for s in judged}
        text = success_text(judged, images)
        if judged is fresh and tuned:
            text = (f"fresh seeds: {text}; {seeds_text(tuned)} (the recipe chosen on them): "
                    + short_success({s: acc[s] for s in tuned}, named=False))
        elif tuned:
            text += f"; the recipe was chosen on short runs of {seeds_text(tuned)}"
        also = "; ".join(f"{how}: " + short_success(src.metric(other, "test_count_accuracy"))
                         for other, how in (beyond or {}).items() if src.records(other))
        hits = sum(a >= COUNT_TARGET for a in judged.values())
        return Finding(text, by_share(hits, len(judged)), also)
    return measure


def chosen_on(ablation: dict, name: str) -> set[int]:
    """The seeds the recipe of experiment ``name`` was chosen on: those its ablation record ran."""
    return {r["seed"] for r in ablation["runs"] if r["experiment"] == name}


def split_hits(acc: dict[int, float], target: float = COUNT_TARGET) -> tuple[list[int], dict[int, float]]:
    """The seeds at ``target`` or more, and ``{seed: value}`` of those below it."""
    hits = [s for s, a in acc.items() if a >= target]
    return hits, {s: a for s, a in acc.items() if s not in hits}


def success_text(acc: dict[int, float], images=()) -> str:
    """``"9 of 10 (seeds 0-9) count 98% or more of 10,000 held-out images right (99.4% to 99.5%); seed 7 at 40.5%"``;
    the seeds that miss, after the semicolon, as one span when there are several."""
    hits, misses = split_hits(acc)
    of = f"{'/'.join(f'{n:,}' for n in sorted(images))} " if images else ""
    if not hits:
        return f"none of {seeds_text(acc)} counts {COUNT_TARGET:.0%} of {of}held-out images right ({span(list(acc.values()))})"
    text = (f"{len(hits)} of {len(acc)} ({seeds_text(acc)}) count {COUNT_TARGET:.0%} or more of {of}held-out images "
            f"right ({span([acc[s] for s in hits])})")
    if misses:
        text += f"; {seeds_text(misses)} at {span(list(misses.values()))}"
    return text


def short_success(acc: dict[int, float], named: bool = True) -> str:
    """``"9 of 10 (seeds 0-9) at 98% or more; seed 7 at 40.5%"``; without ``named``, ``"9 of 10, seed 7 at 40.5%"``."""
    hits, misses = split_hits(acc)
    missed = f"{seeds_text(misses)} at {span(list(misses.values()))}" if misses and hits else ""
    if not named:
        return f"{len(hits)} of {len(acc)}" + (f", {missed}" if missed else "")
    return f"{len(hits)} of {len(acc)} ({seeds_text(acc)}) at {COUNT_TARGET:.0%} or more" + (f"; {missed}" if missed else "")


def extrapolation(src: Sources) -> Finding:
    """Per seed of chapter 2's networks (trained on 0-2 digits, study ``generalization-results``): AIR counts under
    10% of 3-digit images right and DAIR at least 80%. Reproduced if 90% of the seeds do so, partly if half, else
    not reproduced."""
    m = src.study("generalization-results")["metrics"]
    air, dair = ({int(s): v["new"] for s, v in m[label].items()} for label in ("AIR", "DAIR"))
    seeds = sorted(set(air) & set(dair))
    hits = sum(air[s] < UNABLE and dair[s] >= GENERALIZES for s in seeds)
    return Finding(f"3-digit images counted right by chapter 2's networks: AIR {per_seed({s: air[s] for s in seeds})}, "
                   f"DAIR {per_seed({s: dair[s] for s in seeds})}", by_share(hits, len(seeds)))


# AIR's recipes beyond the paper on 0-2 digits (experiment -> how), reported beside the paper's
BEYOND_AIR = {"air-warmup-multi-mnist": "greedy warm-up", "air-concrete-multi-mnist": "Concrete presence"}
# Recipes beyond the paper on 0, 1 or 3 digits (and, where trained, on 0-2 digits), each judged on fresh seeds:
# label -> how the claims row words it, and its experiment per task
RECIPES_013 = {
    "AIR, Concrete": dict(words="AIR with Concrete presence",          # chapter 2's Concrete estimator of presence
                          experiments={"interpolation": "air-concrete-counts-013"}),
    "AIR, rho from 1e-5": dict(words="AIR with rho annealed from 1e-5",   # the paper's AIR, another schedule of rho
                               experiments={"interpolation": "air-lowrho-counts-013"}),
    # each step's presence and pose read the error canvas alone, with no memory of the steps so far
    "DAIR, no count memory": dict(words="DAIR with no count memory",
                                  experiments={"interpolation": "dair-nomemory-counts-013",
                                               "extrapolation": "dair-nomemory-counts-012"}),
}


def interpolation(src: Sources) -> Finding:
    """Per DAIR seed trained on 0, 1 or 3 digits: at least 80% of 2-digit images counted right. Reproduced if 90%
    of the seeds do, partly if half, else not reproduced."""
    air, dair = (src.metric(f"{m}-counts-013", "exact2_count_accuracy") for m in ("air", "dair"))
    hits = sum(a >= GENERALIZES for a in dair.values())
    text = (f"2-digit images counted right: DAIR {per_seed(dair)}, {hits} of {len(dair)} seeds at "
            f"{GENERALIZES:.0%} or more; AIR {per_seed(air)}")
    beyond = []                                    # recipes beyond the paper: reported, not judged
    for recipe in RECIPES_013.values():
        name, what = recipe["experiments"]["interpolation"], recipe["words"]
        if src.records(name):
            new, own = (src.metric(name, k) for k in ("exact2_count_accuracy", "test_count_accuracy"))
            beyond.append(f"{what}: 2 digits {span(list(new.values()))} ({seeds_text(new)}), its own counts "
                          f"{span(list(own.values()))}")
    return Finding(text, by_share(hits, len(dair)), "; ".join(beyond))


# --- chapter 4: representations ------------------------------------------------------------------------------

SCARCE = 1000                           # "data is scarce": at most 1,000 labels
HIGH = {"sum": 0.9, "ascending": 0.95}  # "high accuracy" on each task
BASELINES = ("CAE", "DRAW", "pixels")
SHOWN = {"pixels": "pixel CNN"}         # the study's key -> the baseline's name on the page
AIR_CODES = "air-multi-mnist"           # the experiment whose codes the study reads
def scarce_summary(metrics: dict) -> dict:
    """The downstream study's numbers the claim reads (``metrics``: the study's, per representation and task, with
    ``"majority"``, the majority class's share of the test images per task).

    A *win* at a label count: AIR's mean accuracy (over its codes and classifier seeds) is above the majority
    class's share and above every baseline's mean by more than :data:`airlib.spread.WIN_SE` standard errors of the
    difference.

    Returns:
        ``{"baselines": the baselines present, "tasks": {task: {"counts": the label counts up to SCARCE, "best":
        AIR's best mean accuracy among them, "n": its label count, "wins": the counts at which AIR wins,
        "majority": the majority class's share}}}`` for each task of :data:`HIGH` that AIR was fitted on.
    """
    def runs_of(rep, task):
        r = metrics[rep][task]
        return {n: a for n, a in zip(r["n"], r["accuracy"]) if n <= SCARCE}
    others, tasks = [rep for rep in BASELINES if rep in metrics], {}
    for t in (t for t in HIGH if t in metrics["AIR"]):
        air, base, floor = runs_of("AIR", t), [runs_of(rep, t) for rep in others], metrics["majority"][t]
        means = {n: mean_se(a)[0] for n, a in air.items()}
        n = max(means, key=means.get)
        wins = [m for m in air if means[m] > floor and all(beyond_noise(air[m], b[m]) for b in base)]
        tasks[t] = dict(counts=list(air), best=means[n], n=n, wins=wins, majority=floor)
    return dict(baselines=others, tasks=tasks)


def scarce_labels(src: Sources) -> Finding:
    """With at most 1,000 labels: the claim is "high accuracy", AIR's best mean accuracy reaching 90% on the sum
    and 95% on the order; winning against every baseline (CAE, DRAW, pixel CNN) beyond noise at every such label
    count on both tasks (:func:`scarce_summary`) is its second part. Reproduced if both hold, partly if the
    accuracy does and the comparison does not, not reproduced without the accuracy."""
    record = src.study("representations-results")
    summary = scarce_summary(record["metrics"])
    tasks = summary["tasks"]
    high = all(r["best"] >= HIGH[t] for t, r in tasks.items())
    above = all(len(r["wins"]) == len(r["counts"]) for r in tasks.values())
    air = record["metrics"]["AIR"][next(iter(tasks))]
    codes = air.get("codes", 1)
    seeds = len(air["accuracy"][0]) // codes
    best = "; ".join(f"{t} {r['best']:.1%} (target {HIGH[t]:.0%})" for t, r in tasks.items())
    wins = " and ".join(f"{len(r['wins'])} of {len(r['counts'])}" for r in tasks.values())
    shown = ", ".join(SHOWN.get(b, b) for b in summary["baselines"])
    air_seeds = sorted(v["seed"] for k, v in record["model_config"].items() if v.get("experiment") == AIR_CODES)
    return Finding(f"at most {SCARCE:,} labels: {best}; AIR above {shown} by over two standard errors at {wins} "
                   f"label counts (AIR's codes of {seeds_text(air_seeds)}, "
                   f"{f'{codes} x ' if codes > 1 else ''}{seeds} fits per label count)",
                   by_parts(high * (1 + above), 2))


# --- chapter 5: 3D objects ------------------------------------------------------------------------------------

def objects3d_claims(src: Sources, *prefixes: str) -> pd.DataFrame:
    """The rows of chapter 5's claims table (:func:`airlib.evaluations.objects3d.claims`) that begin with
    ``prefixes``: each has ``measured`` and ``holds``."""
    from .evaluations import objects3d
    table = objects3d.claims(src.study("3d-results")["metrics"], objects3d.seed_table(src.records("3d-air")))
    rows = table[[label.startswith(prefixes) for label in table.index]]
    if rows.empty:
        raise KeyError(f"chapter 5's claims table has no row beginning with {prefixes}")
    return rows


def objects3d_air(src: Sources) -> Finding:
    """Chapter 5's checks of AIR (identity, position, each angle, every seed on the angle targets): reproduced if
    all hold, partly if some do, else not reproduced."""
    from .evaluations.objects3d import rotation_deg
    rows, air = objects3d_claims(src, "AIR infers", "AIR's recipe"), src.study("3d-results")["metrics"]["air"]
    seeds = objects3d_claims(src, "AIR's recipe")["measured"].iloc[0]
    return Finding(f"identity {air['identity_accuracy']:.1%}, position off by {air['position_error']:.2%} of the "
                   f"table, angle off by {rotation_deg(air, 'cube'):.1f} deg (cube) and "
                   f"{rotation_deg(air, 'cylinder'):.1f} deg (cylinder) on {air['scenes']:,} scenes (seed 0); "
                   f"{seeds} on both angle targets",
                   by_parts(int(rows.holds.sum()), len(rows)))


def objects3d_supervised(src: Sources) -> Finding:
    """The paper compares identical networks: AIR and the supervised network both reading the angle on the circle
    of theta (``3d-air-plain``, ``3d-supervised``), over every committed seed of each. Reproduced if the supervised
    network's mean cube angle error is at least twice AIR's and above it beyond two standard errors, else not
    reproduced. The pair with AIR's head on both is reported beside it, not judged."""
    from .evaluations.objects3d import PAIRS, pair_summary
    pairs = {k: pair_summary(src.records(a), src.records(s)) for k, (a, s) in PAIRS.items()}
    plain, sym = pairs["plain"], pairs["symmetric"]

    def said(p):
        sup, air = p["supervised"], p["air"]
        return (f"supervised {sup['mean']:.1f} ± {sup['se']:.1f} deg ({seeds_text(sup['errors'])}), AIR "
                f"{air['mean']:.1f} ± {air['se']:.1f} ({seeds_text(air['errors'])})")
    text = f"cube angle error, identical networks (circle of theta): {said(plain)}"
    if sym:
        text += f"; both with AIR's head (circle of m theta): {said(sym)}"
    return Finding(text, by_parts(int(plain["harder"]), 1))


def objects3d_direct(src: Sources) -> Finding:
    """Chapter 5's checks that direct optimisation is slower (100x), less stable (restarts disagree) and more
    susceptible to local minima (worse than AIR on the same scenes): reproduced if all hold, partly if some."""
    from .evaluations.objects3d import rotation_deg
    rows, m = objects3d_claims(src, "direct optimisation"), src.study("3d-results")["metrics"]
    d, stab, air = m["direct"], m["direct"]["stability"], m["air"]["subset"]
    return Finding(f"{d['seconds_per_image'] / m['air']['seconds_per_image']:,.0f}x AIR's time per image; its "
                   f"{stab['restarts']} restarts end apart on {stab['disagree']:.0%} of {stab['scenes']} scenes; "
                   f"identity {d['identity_accuracy']:.1%} and cylinder angle off by {rotation_deg(d, 'cylinder'):.1f} "
                   f"deg, against AIR's {air['identity_accuracy']:.1%} and {rotation_deg(air, 'cylinder'):.1f} deg on "
                   f"the same {d['scenes']} scenes (seed 0)", by_parts(int(rows.holds.sum()), len(rows)))


# --- chapter 6: table-top scenes ------------------------------------------------------------------------------



def unsupervised(src: Sources) -> dict[str, dict]:
    """The paper's recipe on repeated types: AIR (seed 0) and DAIR (every seed), label -> final scores."""
    nets = src.study("tabletop-results")["metrics"]["networks"]
    return {"AIR": nets["AIR"]} | {f"DAIR seed {s}": r["metrics"] for s, r in src.records("tabletop-dair").items()}


def pilots(src: Sources) -> str:
    """The seeds on which chapter 6's DAIR recipe was chosen, as the study records them."""
    return seeds_text(src.study("tabletop-results")["train_config"]["pilot_seeds"])


SLEEP_PHASE = "sleep phase (AIR's network trained on the model's own scenes)"
SHOW = {"count_accuracy": ("count", "{:.1%}"), "identity_accuracy": ("identity", "{:.1%}"),
        "reconstruction_error": ("reconstruction error", "{:.4f}"), "camera_error_deg": ("camera off by", "{:.2f} deg")}


def sleep_phase(src: Sources, datasets: tuple[str, ...], show: tuple[str, ...], judged: bool = True) -> str:
    """``"sleep phase (...): types repeat (seeds 0-9) count 96.4% to 100.0%, ...; 10 of 10 seeds reach 95% and
    90%"``: the sleep recipe on data sets (keys of ``evaluations.tabletop.SLEEP``) over their committed seeds, the
    metrics ``show``, and with ``judged`` how many seeds meet chapter 6's count and identity targets. Reported
    beside the paper's recipe, never in its verdict; empty without records."""
    parts, hits, total = [], 0, 0
    for data in datasets:
        m = {s: r["metrics"] for s, r in src.records(SLEEP[data]).items()}
        if not m:
            continue
        parts.append(f"{data} ({seeds_text(m)}) " + ", ".join(
            f"{SHOW[k][0]} {span([r[k] for r in m.values()], SHOW[k][1])}" for k in show))
        hits += sum(r["count_accuracy"] >= COUNT_OK and r["identity_accuracy"] >= IDENTITY_OK for r in m.values())
        total += len(m)
    if not parts:
        return ""
    tail = f"; {hits} of {total} seeds reach {COUNT_OK:.0%} and {IDENTITY_OK:.0%}" if judged else ""
    return f"{SLEEP_PHASE}: " + "; ".join(parts) + tail


def competitive(src: Sources) -> Finding:
    """Per network of the paper's recipe (AIR seed 0, DAIR every seed): a count accuracy at least the naive
    supervised network's and a reconstruction error at most its. Reproduced if 90% do, partly if half."""
    nets, everyone = unsupervised(src), src.study("tabletop-results")["metrics"]["networks"]
    sup, typed = everyone["supervised"], everyone["supervised by type"]
    dair = [r for label, r in nets.items() if label.startswith("DAIR")]
    recon = [r["reconstruction_error"] for r in dair]
    hits = sum(r["count_accuracy"] >= sup["count_accuracy"] and r["reconstruction_error"] <= sup["reconstruction_error"]
               for r in nets.values())
    return Finding(f"count: AIR {nets['AIR']['count_accuracy']:.1%}, DAIR {span([r['count_accuracy'] for r in dair])} "
                   f"({len(dair)} seeds) against the naive supervised network's {sup['count_accuracy']:.1%} (labels "
                   f"sorted by type: {typed['count_accuracy']:.1%}); reconstruction error AIR "
                   f"{nets['AIR']['reconstruction_error']:.4f}, DAIR {span(recon, '{:.4f}')} against "
                   f"{sup['reconstruction_error']:.4f}; {hits} of {len(nets)} networks better in both "
                   f"(DAIR's recipe chosen on {pilots(src)})", by_share(hits, len(nets)),
                   sleep_phase(src, ("types repeat",), ("count_accuracy", "reconstruction_error"), judged=False))


def accurate(src: Sources) -> Finding:
    """Per network of the paper's recipe (AIR seed 0, DAIR every seed): at least 95% of scenes counted and 90% of
    objects named right (chapter 6's targets; positions have none, and do not enter the verdict). Reproduced if
    90% of the networks do, partly if half."""
    nets = unsupervised(src)
    dair = [r for label, r in nets.items() if label.startswith("DAIR")]
    hits = sum(r["count_accuracy"] >= COUNT_OK and r["identity_accuracy"] >= IDENTITY_OK for r in nets.values())
    return Finding(f"count: AIR {nets['AIR']['count_accuracy']:.1%}, DAIR {span([r['count_accuracy'] for r in dair])}; "
                   f"identity: AIR {nets['AIR']['identity_accuracy']:.1%}, DAIR "
                   f"{span([r['identity_accuracy'] for r in dair])} ({len(dair)} seeds); {hits} of {len(nets)} "
                   f"networks reach {COUNT_OK:.0%} and {IDENTITY_OK:.0%}", by_share(hits, len(nets)),
                   sleep_phase(src, ("types repeat", "each type once"), ("count_accuracy", "identity_accuracy")))


def naive_supervised(src: Sources) -> Finding:
    """On each data set (types repeat, each type once): the naive network, whose labels come in the scene's
    arbitrary order, counts at most half as well as the one with labels sorted by type. Reproduced if on both,
    partly if on one, else not reproduced."""
    nets = src.study("tabletop-results")["metrics"]["networks"]
    pairs = {data: (nets[f"supervised{tail}"]["count_accuracy"], nets[f"supervised by type{tail}"]["count_accuracy"])
             for data, tail in (("types repeat", ""), ("each type once", ", each type once"))}
    return Finding("count: " + "; ".join(f"{naive:.1%} naive, {typed:.1%} sorted by type ({data})"
                                         for data, (naive, typed) in pairs.items()) + " (seed 0 each)",
                   by_parts(sum(naive <= typed / 2 for naive, typed in pairs.values()), len(pairs)))


def moving_camera(src: Sources) -> Finding:
    """Two parts for the better of AIR and DAIR with the moving camera (seed 0 each): at least 90% of scenes
    counted right, and a mean camera error of at most 2 degrees (chapter 6's targets). Reproduced if both hold,
    partly if one, else not reproduced."""
    metrics = src.study("tabletop-results")["metrics"]
    nets = {net: metrics["networks"][f"{net}, moving camera"] for net in ("AIR", "DAIR")}
    held = {net: (r["count_accuracy"] >= CAMERA_COUNT_OK) + (r["camera_error_deg"] <= CAMERA_OK_DEG)
            for net, r in nets.items()}
    median = {net: metrics["camera"][f"{net}, moving camera"]["median"] for net in nets}
    return Finding("; ".join(f"{net}: camera off by {r['camera_error_deg']:.1f} deg on average (median "
                             f"{median[net]:.1f}), count {r['count_accuracy']:.1%}" for net, r in nets.items())
                   + " (seed 0 each)", by_parts(max(held.values()), 2),
                   sleep_phase(src, ("moving camera",), ("count_accuracy", "camera_error_deg"), judged=False))


CLAIMS = (
    Claim("nvil-posterior", 1, "Sec. I-B, Eq. (7)", "The score-function estimator with NVIL's baselines trains q to "
          "infer the count: the network \"learns to use an appropriate number of inference steps\"", nvil_posterior,
          title="NVIL trains q to infer the count"),
    Claim("baseline-variance", 1, "Sec. I-B", "\"We reduce its variance using appropriately structured baselines\"",
          baseline_variance,
          title="baselines cut the score function's variance"),
    Claim("air-count", 2, "Sec. II, Fig. 4", "Trained without supervision, AIR \"identifies the number of digits "
          "correctly\"; it \"can reliably learn\" to detect them", counts("air-multi-mnist", BEYOND_AIR),
          title="AIR learns to count"),
    Claim("dair-count", 2, "Sec. II", "DAIR, \"a variant\" whose inference network reads an error canvas, learns "
          "to count as AIR does", counts("dair-multi-mnist"),
          title="DAIR learns to count"),
    Claim("extrapolation", 3, "Sec. II-A, Fig. 6", "Trained on up to 2 digits, AIR \"is effectively unable to infer "
          "the correct count\" of 3; \"DAIR out-performs AIR\"", extrapolation,
          title="extrapolation: DAIR generalizes, AIR cannot"),
    Claim("interpolation", 3, "Sec. II-A, Fig. 6", "Trained on 0, 1 or 3 digits and tested on 2: \"DAIR by contrast "
          "generalizes well in both tasks\"", interpolation,
          title="interpolation: DAIR generalizes"),
    Claim("scarce-labels", 4, "Sec. II-B, Fig. 7", "\"AIR achieves high accuracy even when data is scarce\"",
          scarce_labels,
          title="AIR's codes: high accuracy from few labels"),
    Claim("3d-air", 5, "Sec. III-A, Fig. 8b", "\"The network accurately and reliably infers the identity and pose of "
          "the object\"", objects3d_air,
          title="3D: AIR infers identity and pose"),
    Claim("3d-supervised", 5, "Sec. III-A, Fig. 8c", "The supervised network \"has much more difficulty in accurately "
          "determining the cube's orientation\"", objects3d_supervised,
          title="3D: a supervised network struggles with the cube"),
    Claim("3d-direct", 5, "Sec. III-A, Fig. 8d", "Direct optimisation \"is slower, less stable and more susceptible "
          "to local minima\"", objects3d_direct,
          title="3D: direct optimisation slower, less stable"),
    Claim("tabletop-competitive", 6, "Sec. III-B, Fig. 9", "\"AIR achieves competitive reconstruction and count "
          "accuracy\" (Fig. 9: lower reconstruction error and higher count accuracy than a naive supervised network)",
          competitive,
          title="table-top: competitive with supervision"),
    Claim("tabletop-accurate", 6, "Sec. III-B, Fig. 9", "\"AIR's inferences of counts, identities and positions are "
          "accurate for the most part\"", accurate,
          title="table-top: counts and identities accurate"),
    Claim("tabletop-naive", 6, "Sec. III-B, Fig. 9", "\"A naive supervised setup struggles greatly with object "
          "repetitions or when an arbitrary ordering of the objects is imposed by the labels\"", naive_supervised,
          title="table-top: naive supervision struggles"),
    Claim("tabletop-camera", 6, "Sec. III-B, Fig. 10", "With a moving camera, \"for the most part the network infers "
          "all scene parameters reliably\"", moving_camera,
          title="table-top: moving camera inferred reliably"),
)


def link(chapter: int) -> str:
    """The page of a chapter in the built book, e.g. ``"06_tabletop.html"`` (from ``notebooks/06_*.py``)."""
    pages = sorted((runs.ROOT / "notebooks").glob(f"{chapter:02d}_*.py"))
    if not pages:
        raise ValueError(f"no chapter {chapter}: no notebooks/{chapter:02d}_*.py")
    return f"{pages[0].stem}.html"


def table(profile: str = "paper", chapter: int | None = None, sources: Sources | None = None) -> pd.DataFrame:
    """The claims (of one chapter, or all) with this book's numbers and verdicts, one row per claim.

    Args:
        profile: ``"paper"`` measures on the committed records; under any other profile the rows are listed
            with the number "measured on the paper profile only" and the verdict "—", and nothing is loaded.
        chapter: 1 to 6, or None for every chapter.
        sources: where the records come from (default: the repository's ``artifacts/``).

    Returns:
        A DataFrame indexed by the claim's key, with columns :data:`COLUMNS`.
    """
    check(profile)
    src = sources or Sources()
    rows = {}
    for c in CLAIMS:
        if chapter is None or c.chapter == chapter:
            found = (NOT_MEASURED if profile != "paper" else c.measure(src) if src.measurable(c.chapter)
                     else NO_RECORDS)
            rows[c.key] = dict(zip(COLUMNS, (c.chapter, c.section, c.paper, found.number, found.beyond,
                                             found.verdict)))
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(COLUMNS)).rename_axis("claim")


def badge(verdict: str) -> str:
    """A verdict as a coloured label that also says it in words (``airlib.css`` colours it)."""
    kind = {VERDICTS[0]: "yes", VERDICTS[1]: "partly", VERDICTS[2]: "no"}.get(verdict, "none")
    return f'<span class="verdict verdict-{kind}">{verdict}</span>'


def tally(frame: pd.DataFrame) -> str:
    """``"9 reproduced, 1 partly, 4 not reproduced (of 14)"``."""
    counts = frame["verdict"].value_counts()
    unmeasured = len(frame) - sum(counts.get(v, 0) for v in VERDICTS)
    return (", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS) + f" (of {len(frame)}"
            + (f"; {unmeasured} not measured here)" if unmeasured else ")"))


def _chapter_cell(row) -> str:
    """The chapter's number, a link to its page unless this build has no records of it (no page either)."""
    c = row["chapter"]
    return str(c) if row["this book"] == NO_RECORDS.number else f'<a href="{link(c)}">{c}</a>'


def html(frame: pd.DataFrame) -> str:
    """A :func:`table` as HTML, each chapter number a link to its page and each verdict a :func:`badge`; the
    column "beyond the paper" only where a row has something in it."""
    shown = frame.assign(chapter=[_chapter_cell(r) for _, r in frame.iterrows()],
                         verdict=[badge(v) for v in frame["verdict"]])
    if not shown["beyond the paper"].astype(bool).any():
        shown = shown.drop(columns="beyond the paper")
    return shown.to_html(escape=False, index=False, classes="claims-table")


def summary_html(frame: pd.DataFrame) -> str:
    """The landing page's first screen: the tally, then one line per claim (chapter, the claim in a few words, its
    verdict); the full :func:`html` table follows on the page."""
    titles = {c.key: c.title for c in CLAIMS}
    rows = "".join(f'<tr><td>{_chapter_cell(r)}</td><td>{titles[key]}</td>'
                   f'<td>{badge(r["verdict"])}</td></tr>' for key, r in frame.iterrows())
    return (f'<p class="claims-tally"><strong>What reproduced:</strong> {tally(frame)}.</p>'
            f'<table class="claims-summary"><thead><tr><th>ch.</th><th>the paper\'s claim</th><th>verdict</th></tr>'
            f'</thead><tbody>{rows}</tbody></table>')
