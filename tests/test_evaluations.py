"""The evaluation registry (:mod:`airlib.evaluations`): what it lists, how it refuses, the committed studies."""
import json
import re
import shutil
import subprocess
import sys

import pytest

from airlib import evaluations, experiments, runs
from airlib.evaluations import objects3d
from airlib.pretrained import available_seeds, config_changes

STUDIES = ("3d-results", "generalization-results", "representations-results", "tabletop-results", "tabletop-transfer",
           "toy-estimators")
COMMITTED = ("3d-results", "generalization-results", "representations-results", "tabletop-results",
             "toy-estimators")   # chapters 5, 3, 4, 6, 1


def test_the_registry_lists_every_study():
    # in a fresh process: the registry finds its studies itself, not because a test imported their modules
    fresh = subprocess.run([sys.executable, "-c", "from airlib import evaluations; print(evaluations.names())"],
                           capture_output=True, text=True, check=True)
    assert fresh.stdout.strip() == str(sorted(STUDIES))
    assert evaluations.names() == sorted(STUDIES)
    for name in STUDIES:
        ev = evaluations.get(name)
        assert ev.name == name and (ev.needs or name == "toy-estimators")     # the toy needs no trained run
        assert ev.command("paper") == f"python -m airlib evaluate {name} --profile paper"


def test_an_unknown_study_is_refused_listing_the_known_ones():
    with pytest.raises(ValueError, match="unknown evaluation 'no-such-study': expected one of "
                                         "3d-results, generalization-results, representations-results, tabletop-results, "
                                         "tabletop-transfer, toy-estimators"):
        evaluations.get("no-such-study")
    with pytest.raises(ValueError, match="unknown evaluation 'no-such-study'"):
        evaluations.load("no-such-study", "paper")


@pytest.mark.parametrize("name, known", [("3d-results", "none"),
                                         ("representations-results", "jobs, only, parts_dir, progress")])
def test_evaluate_refuses_an_option_the_study_does_not_take_before_computing(tmp_path, name, known):
    with pytest.raises(ValueError, match=re.escape(f"{name} takes no option bogus (its options: {known})")):
        evaluations.evaluate(name, "smoke", tmp_path / "model", bogus=1)
    assert list(tmp_path.iterdir()) == []                      # refused before anything was computed or written


@pytest.mark.parametrize("name", COMMITTED)
def test_the_committed_study_loads_under_the_paper_profile_with_todays_configuration(name):
    record, tensors = evaluations.load(name, "paper")
    ev = evaluations.get(name)
    assert record["experiment"] == name and record["profile"] == "paper" and record["finished"]
    assert config_changes(record["train_config"], ev.config("paper")) == []
    assert evaluations.check_record(name, record, data=False) == []
    if name == "3d-results":
        assert set(record["metrics"]) == {"air", "supervised", "direct"}
        figures = objects3d.figures(tensors)
        assert set(figures["inferred"]) == {"air", "supervised", "direct"}
        n = record["metrics"]["air"]["scenes"]
        assert figures["inferred"]["air"][1].shape == (n, 3)
        assert figures["direct_traces"].shape[0] == record["metrics"]["direct"]["scenes"]
    elif name == "representations-results":
        assert set(record["model_config"]) == {"air-multi-mnist-seed0", "air-multi-mnist-seed1", "air-multi-mnist-seed2",
                                               "CAE", "DRAW"}
        assert set(record["metrics"]) == {"AIR", "CAE", "DRAW", "pixels", "majority"}
        assert record["metrics"]["AIR"]["sum"]["codes"] == 3 and len(record["metrics"]["AIR"]["probe"]) == 3
        assert set(tensors) == {"test_sum"}
    else:                                   # every study records the runs it read (none for the toy)
        assert set(record["model_config"]) == {f"{n.experiment}-seed{s}" for n in ev.needs for s in n.seeds}


def test_the_generalization_study_agrees_with_the_runs_that_logged_three_digits_along_training():
    """A second computation: ``air-counts-012`` and ``dair-counts-012`` seed 0 are chapter 2's seed 0 trained again
    (same weights) with the 3-digit set scored in the training loop; the study's seed-0 scores must equal theirs."""
    record, _ = evaluations.load("generalization-results", "paper")
    for label, name in (("AIR", "air-counts-012"), ("DAIR", "dair-counts-012")):
        logged = runs.load_record(runs.artifact_stem(name, 0))["metrics"]
        assert record["metrics"][label]["0"]["new"] == logged["exact3_count_accuracy"]
        assert record["metrics"][label]["0"]["q_pres"] == pytest.approx(logged["exact3_q_pres"], abs=1e-3)   # fp16 weights
    assert evaluations.check_record("generalization-results", record) == []          # data_sha256 too


def test_the_committed_3d_study_scored_the_scenes_the_code_makes_today():
    record, _ = evaluations.load("3d-results", "paper")
    assert evaluations.check_record("3d-results", record) == []          # data_sha256 too


@pytest.mark.parametrize("name, field", [("3d-results", "steps"), ("representations-results", "epochs")])
def test_a_stale_committed_study_is_refused_naming_the_field_and_the_command(tmp_path, name, field):
    for suffix in (".json", ".safetensors"):
        shutil.copyfile(runs.artifact_stem(name, 0).with_suffix(suffix), tmp_path / f"{name}-seed0{suffix}")
    path = tmp_path / f"{name}-seed0.json"
    record = json.loads(path.read_text())
    today = record["train_config"][field]
    record["train_config"][field] = today - 1
    path.write_text(json.dumps(record))
    with pytest.raises(runs.ArtifactError, match=re.escape(f"{field}: {today - 1} -> {today}") + ".*"
                       + re.escape(f"redo it with: python -m airlib evaluate {name} --profile paper")):
        evaluations.load(name, "paper", directory=tmp_path)


def test_a_missing_study_names_the_command_that_makes_it(tmp_path):
    with pytest.raises(runs.ArtifactError, match=re.escape("no study 3d-results-seed0; make it with: "
                                                           "python -m airlib evaluate 3d-results --profile paper")):
        evaluations.load("3d-results", "paper", directory=tmp_path)


def test_book_runs_hold_every_committed_training_record_and_every_study_need():
    wanted = set(evaluations.book_runs())
    committed = {(name, s) for name in experiments.names() for s in available_seeds(name)}
    assert committed and committed <= wanted
    # every record in artifacts/ that is not a study's is a registered experiment's, so none is left out above
    on_disk = {re.fullmatch(r"(.+)-seed(\d+)", p.stem) for p in runs.ARTIFACTS.glob("*-seed*.json")}
    on_disk = {(m[1], int(m[2])) for m in on_disk if m and m[1] not in evaluations.names()}
    assert on_disk == committed
    needs = {(n.experiment, s) for name in evaluations.names() for n in evaluations.get(name).needs for s in n.seeds}
    assert needs <= wanted
