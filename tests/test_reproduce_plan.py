"""``python -m airlib reproduce --plan/--quick/--chapter``: the schedule against a brute-force optimum, the plan
against fake records in a temporary artifacts folder, and the chapters' runs against their notebooks."""
import itertools
import json
import random
import re
from types import SimpleNamespace

import pytest

from airlib import evaluations, reproduce, runs
from airlib.__main__ import main


def best_makespan(times, workers):
    """The optimum over every assignment of jobs to workers (small cases only)."""
    best = float("inf")
    for assignment in itertools.product(range(workers), repeat=len(times)):
        loads = [0.0] * workers
        for t, w in zip(times, assignment):
            loads[w] += t
        best = min(best, max(loads))
    return best


def test_lpt_on_known_cases():
    # Graham's example: longest first puts 3+2+2 on one worker, while 3+3 | 2+2+2 is optimal
    assert reproduce.schedule([3, 3, 2, 2, 2], 2)[0] == 7
    assert best_makespan([3, 3, 2, 2, 2], 2) == 6
    assert reproduce.schedule([5, 4, 3, 3, 3], 1)[0] == 18           # one worker: the sum
    assert reproduce.schedule([5, 4, 3], 4)[0] == 5                  # more workers than jobs: the longest
    assert reproduce.schedule([], 2)[0] == 0
    assert reproduce.schedule([1, 1, 2], 2)[0] == 2                  # longest first: 2 | 1+1
    assert reproduce.schedule([1, 1, 2], 2, order=[0, 1, 2])[0] == 3   # in the given order: 1+2 | 1
    with pytest.raises(reproduce.ReproduceError):
        reproduce.schedule([1.0], 0)


def test_lpt_against_brute_force():
    rng = random.Random(0)
    for _ in range(150):
        workers, n = rng.randint(1, 3), rng.randint(1, 7)
        times = [rng.randint(1, 20) for _ in range(n)]
        makespan, jobs = reproduce.schedule(times, workers)
        assert sorted(i for w in jobs for i in w) == list(range(n))            # every job once
        assert makespan == max(sum(times[i] for i in w) for w in jobs)
        best = best_makespan(times, workers)
        assert best <= makespan <= (4 / 3 - 1 / (3 * workers)) * best + 1e-9   # Graham's bound


def write_record(directory, name, seed, minutes, weights=False):
    record = {k: None for k in runs.RECORD_KEYS}
    record.update(experiment=name, profile="paper", seed=seed, wall_time_s=minutes * 60, device="cpu (test)",
                  finished=True, metrics={}, history=[])
    (directory / f"{name}-seed{seed}.json").write_text(json.dumps(record))
    if weights:
        (directory / f"{name}-seed{seed}.safetensors").write_bytes(b"")


@pytest.fixture
def fake_artifacts(tmp_path, monkeypatch):
    """A temporary artifacts folder: air-multi-mnist seeds 0, 5 (record only) and 7; dair-multi-mnist 0; a study."""
    monkeypatch.setattr(runs, "ARTIFACTS", tmp_path)
    for name, seed, minutes, weights in (("air-multi-mnist", 0, 10.0, True), ("air-multi-mnist", 7, 20.0, True),
                                         ("air-multi-mnist", 5, 30.0, False), ("dair-multi-mnist", 0, 40.0, True)):
        write_record(tmp_path, name, seed, minutes, weights)
    write_record(tmp_path, "toy-estimators", 0, 2.0)
    (tmp_path / "air-multi-mnist-ablation.json").write_text("{}")       # a document, not a run
    return tmp_path


def plan_lines(text):
    """``{(experiment, seed): what the plan states}`` from a plan's run lines."""
    return {(m[1], int(m[2])): m[3] for m in re.finditer(r"^  (\S+) +seed (\d+) +(.+)$", text, re.M)}


def test_plan_lists_every_book_run_with_its_recorded_minutes(fake_artifacts, tmp_path, capsys):
    book_dir = tmp_path / "book"
    book_dir.mkdir()
    (book_dir / "02_multi_mnist.ipynb").write_text(json.dumps({"metadata": {"airlib": {"profile": "paper",
                                                                                      "seconds": 90.0}}}))
    assert main(["reproduce", "--plan", "--jobs", "2", "--no-book"]) == 0
    text = capsys.readouterr().out
    listed = plan_lines(text)
    assert set(listed) == set(evaluations.book_runs())
    assert listed["air-multi-mnist", 0].strip() == "10.0 core-min"
    assert listed["air-multi-mnist", 5].strip() == "30.0 core-min"
    assert listed["dair-multi-mnist", 0].strip() == "40.0 core-min"
    assert listed["air-multi-mnist", 7].strip() == "20.0 core-min"
    unrecorded = set(listed) - {("air-multi-mnist", 0), ("air-multi-mnist", 7), ("air-multi-mnist", 5),
                                ("dair-multi-mnist", 0)}
    assert unrecorded and all(listed[job] == "no record (unknown cost)" for job in unrecorded)
    assert "4 runs with records, 100.0 core-minutes" in text
    assert "--jobs 2: 50.0 min" in text                       # longest first: 40+10 | 30+20
    assert re.search(r"^  toy-estimators +2\.0 min$", text, re.M)
    # the book's time comes from the executed chapter's metadata
    chosen = reproduce.select(chapter=2)
    assert "took 1.5 min" in reproduce.plan(chosen, 2, book=True, book_dir=book_dir)
    assert "not known for 02_multi_mnist" in reproduce.plan(chosen, 2, book=True, book_dir=tmp_path / "none")


def test_estimate_gives_the_plans_numbers(fake_artifacts):
    write_record(fake_artifacts, "3d-results", 0, 3.0)                 # a second study
    est = reproduce.estimate(reproduce.select(), jobs=2)
    assert (est["runs"], est["core_minutes"], est["training_minutes"]) == (4, 100.0, 50.0)   # 40+10 | 30+20
    assert est["unknown"] == len(evaluations.book_runs()) - 4
    assert est["core_minutes_by_experiment"] == {"air-multi-mnist": 60.0, "dair-multi-mnist": 40.0}
    assert est["study_minutes"] == 5.0                                 # one after another; the others have no record
    assert reproduce.estimate(reproduce.select(), jobs=1)["training_minutes"] == 100.0
    quick = reproduce.estimate(reproduce.select(quick=True), jobs=2)
    assert quick["core_minutes_by_experiment"]["air-multi-mnist"] == 30.0   # seeds 0 and 7 (weights), not 5


def test_plan_runs_nothing(fake_artifacts, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("--plan trained something")
    monkeypatch.setattr(reproduce, "reproduce", refuse)
    monkeypatch.setattr("airlib.sweep.run_jobs", refuse)
    assert main(["reproduce", "--plan", "--quick", "--jobs", "3"]) == 0
    assert "3 jobs at once" in capsys.readouterr().out


def test_quick_keeps_every_seed_a_study_needs(fake_artifacts):
    quick = reproduce.quick_runs(evaluations.book_runs())
    assert evaluations.needed_runs() <= set(quick)
    air = sorted(s for n, s in quick if n == "air-multi-mnist")
    assert {("air-multi-mnist", 5), ("air-multi-mnist", 7)}.isdisjoint(evaluations.needed_runs())
    assert 0 in air and 7 in air       # seed 0, and seed 7 whose weights are committed (a chapter loads it)
    assert 5 not in air                # a seed only the tables over seeds read goes
    assert set(quick) <= set(evaluations.book_runs())


def test_quick_keeps_the_smallest_seed_when_there_is_no_seed_0(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "ARTIFACTS", tmp_path)
    write_record(tmp_path, "3d-air", 3, 1.0)
    write_record(tmp_path, "3d-air", 4, 1.0)
    assert reproduce.quick_runs([("3d-air", 3), ("3d-air", 4)]) == [("3d-air", 3)]


def test_quick_on_the_committed_artifacts():
    """Every seed a study needs stays, and one seed per experiment at least."""
    full, quick = evaluations.book_runs(), reproduce.select(quick=True).runs
    assert {job for job in full if job in evaluations.needed_runs()} <= set(quick)
    assert {n for n, _ in full} == {n for n, _ in quick}
    assert len(quick) < len(full)


def test_chapter_2_reads_only_multi_mnist():
    chosen = reproduce.select(chapter=2)
    names = {n for n, _ in chosen.runs}
    assert {"air-multi-mnist", "dair-multi-mnist"} <= names
    assert all(n.endswith("-multi-mnist") for n in names)
    assert chosen.chapter.name.startswith("02_")
    assert reproduce.select(chapter=2, quick=True).runs != chosen.runs


def test_chapter_6_reads_the_tabletop_runs_and_studies():
    chosen = reproduce.select(chapter=6)
    assert {n for n, _ in chosen.runs} and all(n.startswith("tabletop-") for n, _ in chosen.runs)
    assert set(chosen.studies) == {"tabletop-results", "tabletop-transfer"}
    needed = {(m.experiment, s) for st in chosen.studies for m in evaluations.get(st).needs for s in m.seeds}
    assert needed <= set(chosen.runs)


def test_chapter_reads_replacements_constants_and_claims(tmp_path, monkeypatch):
    """The ways a notebook names runs: quoted, turned by ``.replace``, in a module's constant, through the claims."""
    (tmp_path / "00_intro.py").write_text("found = claims.table(profile)\n")
    (tmp_path / "03_x.py").write_text(
        'from airlib.evaluations import tabletop as study  # noqa\n'
        'm = load_or_train(name.replace("counts-012", "multi-mnist"), profile, seed)\n'
        'models = {"AIR": "air-counts-012"}\nrows = {k: inputs.records(n) for k, n in study.SLEEP.items()}\n'
        'claims.table(profile, chapter=3)\nnot_a_run = "hide-input"\n')
    monkeypatch.setattr(reproduce, "chapters", lambda: {0: tmp_path / "00_intro.py", 3: tmp_path / "03_x.py"})
    from airlib.evaluations.tabletop import SLEEP
    reads = reproduce.chapter_reads(3)
    assert reads == {"air-counts-012", "air-multi-mnist", *SLEEP.values()}
    assert reproduce.chapter_reads(0) == reads                # the landing page shows every chapter's claims


def test_unknown_chapter_is_one_clear_line(capsys):
    assert main(["reproduce", "--plan", "--chapter", "9"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("reproduce: no chapter 9: the chapters are 0, 1, 2")


def test_reproduce_chapter_trains_its_runs_redoes_its_studies_and_builds_it_alone(tmp_path, monkeypatch):
    calls = []

    def run_jobs(todo, *args, **kwargs):
        calls.append(("train", tuple((j.experiment, j.seed) for j in todo)))
        return dict(failed={}, done=[], skipped=[], wall_time_s=0.0)
    monkeypatch.setattr(reproduce, "OUT", tmp_path)
    monkeypatch.setattr("airlib.sweep.run_jobs", run_jobs)
    monkeypatch.setattr(runs, "promote", lambda *args, **kwargs: None)
    monkeypatch.setattr(reproduce.subprocess, "run",
                        lambda cmd, **kwargs: calls.append(tuple(cmd[3:])) or SimpleNamespace(returncode=0))
    assert reproduce.reproduce(chapter=6, jobs=1) == 0
    chosen = reproduce.select(chapter=6)
    assert calls == [("train", chosen.runs), *[("evaluate", name) for name in chosen.studies],
                     ("book", "--profile", "paper", "--chapter", "06")]


def test_figures_retrains_what_is_drawn_and_copies_the_rest(fake_artifacts):
    everything = evaluations.book_runs()
    figures, quick = reproduce.figure_runs(everything), reproduce.quick_runs(everything)
    records_only = {(n.experiment, s) for name in evaluations.names() for n in evaluations.get(name).needs
                    if not n.weights for s in n.seeds}
    drawn = evaluations.needed_runs() - records_only
    assert evaluations.needed_runs(weights=True) <= set(figures)     # seed 0 of tabletop-dair: weights and record
    assert ("tabletop-dair", 0) in evaluations.needed_runs(weights=True)
    assert ("tabletop-dair", 5) in evaluations.needed_runs() - evaluations.needed_runs(weights=True)
    assert records_only and drawn <= set(figures)            # every seed whose weights a study draws stays ...
    assert set(figures) <= set(quick)
    assert ("tabletop-dair", 5) in set(quick) - set(figures)   # ... a seed a study reads as a record only goes
    assert {("air-multi-mnist", 0), ("air-multi-mnist", 7)} <= set(figures)    # seed 0 and a seed with weights
    chosen = reproduce.select(figures=True)
    assert set(chosen.copied) == set(everything) - set(chosen.runs) and ("air-multi-mnist", 5) in chosen.copied
    assert not reproduce.select(quick=True).copied
    with pytest.raises(reproduce.ReproduceError, match="choose one"):
        reproduce.select(quick=True, figures=True)
    assert "Not retrained: " in reproduce.plan(chosen, 2, book=False)


def test_copied_records_are_marked_and_named_on_the_page(fake_artifacts, tmp_path):
    import nbformat
    from airlib.book import pipeline
    out = tmp_path / "reproduction"
    out.mkdir()
    write_record(out, "air-multi-mnist", 0, 1.0, weights=True)                  # retrained: left alone
    done = reproduce.copy_records([("air-multi-mnist", 0), ("air-multi-mnist", 5), ("air-multi-mnist", 7)], out)
    assert done == [("air-multi-mnist", 5), ("air-multi-mnist", 7)]
    assert reproduce.COPIED not in json.loads((out / "air-multi-mnist-seed0.json").read_text())
    assert reproduce.copied(out) == {"air-multi-mnist": [5, 7]}
    assert reproduce.copied(fake_artifacts) == {}
    assert "`air-multi-mnist` seeds 5, 7" in reproduce.copied_note(["air-multi-mnist", "dair-multi-mnist"], out)
    assert reproduce.copied_note(["dair-multi-mnist"], out) is None
    # a page that reads them says so under its title; a build of committed artifacts adds nothing
    source = runs.ROOT / "notebooks" / "02_multi_mnist.py"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Multi-MNIST")])
    assert not pipeline.mark_copied(nb, source) and len(nb.cells) == 1
    runs_artifacts = runs.ARTIFACTS
    try:
        runs.ARTIFACTS = out
        assert pipeline.mark_copied(nb, source)
    finally:
        runs.ARTIFACTS = runs_artifacts
    assert nb.cells[1].source.startswith("```{note}") and "seeds 5, 7" in nb.cells[1].source
