"""Training: a smoke run learns, an interrupted run resumes to the same result, artifacts are checked."""
import json

import pytest
import torch

from airlib import train as T
from airlib.data import multi_mnist_splits
from airlib.pretrained import ArtifactError, load_pretrained, load_record


@pytest.fixture(scope="module")
def data():
    return multi_mnist_splits("smoke")


def test_smoke_run_raises_the_elbo(data, tmp_path):
    rec = T.train("air-multi-mnist", "smoke", seed=0, run_dir=tmp_path, progress=False, data=data)
    hist = rec["history"]
    assert rec["finished"] and hist[-1]["step"] == T.TRAIN["smoke"].steps
    assert hist[-1]["test_elbo"] > hist[0]["test_elbo"] + 50
    lines = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines] == [h["step"] for h in hist]
    assert {"test_count_accuracy", "test_elbo", "step_time"} <= set(lines[-1])


@pytest.mark.parametrize("experiment", ["air-multi-mnist", "dair-multi-mnist"])
def test_resume_reproduces_the_uninterrupted_run(data, tmp_path, experiment):
    whole = T.train(experiment, "smoke", seed=3, run_dir=tmp_path / "whole", progress=False, data=data)
    first = T.train(experiment, "smoke", seed=3, run_dir=tmp_path / "cut", stop_at=137, progress=False, data=data)
    assert not first["finished"] and first["steps"] == 137
    resumed = T.train(experiment, "smoke", seed=3, run_dir=tmp_path / "cut", progress=False, data=data)
    a, b = whole["model"].state_dict(), resumed["model"].state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    strip = lambda h: [{k: v for k, v in r.items() if k not in ("step_time", "wall")} for r in h]
    assert strip(whole["history"]) == strip(resumed["history"])
    log = [json.loads(l)["step"] for l in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert log == [h["step"] for h in whole["history"]]          # each logged step exactly once


def test_resume_refuses_another_runs_checkpoint(data, tmp_path):
    T.train("air-multi-mnist", "smoke", seed=0, run_dir=tmp_path, stop_at=5, progress=False, data=data)
    with pytest.raises(ValueError, match="another run"):
        T.train("air-multi-mnist", "smoke", seed=1, run_dir=tmp_path, progress=False, data=data)


def _fake_paper_artifact(directory, **changes):
    """An untrained paper-size model exported with a record that claims the paper configuration."""
    model_cfg, cfg = T.experiment_configs("air-multi-mnist", "paper")
    from dataclasses import asdict
    from airlib.air import AIR
    record = dict(experiment="air-multi-mnist", profile="paper", seed=0, model_config=asdict(model_cfg),
                  train_config=asdict(cfg), finished=True, steps=cfg.steps, wall_time_s=0.0, device="test",
                  commit="test", command="test", history=[], snapshots=[], model=AIR(model_cfg))
    record.update(changes)
    T.export_artifact(record, directory)


def test_load_pretrained_checks_the_record(tmp_path):
    _fake_paper_artifact(tmp_path)
    model = load_pretrained("air-multi-mnist", directory=tmp_path)
    assert not model.training and model.infer(torch.zeros(2, 50, 50)).count.shape == (2,)
    record = json.loads((tmp_path / "air-multi-mnist-seed0.json").read_text())
    record["model_config"]["z_what"] = 7
    (tmp_path / "air-multi-mnist-seed0.json").write_text(json.dumps(record))
    with pytest.raises(ArtifactError, match="model_config.*python -m airlib train air-multi-mnist"):
        load_pretrained("air-multi-mnist", directory=tmp_path)


def test_load_pretrained_refuses_other_profiles_and_missing_files(tmp_path):
    _fake_paper_artifact(tmp_path, profile="smoke")
    with pytest.raises(ArtifactError, match="profile"):
        load_record("air-multi-mnist", directory=tmp_path)
    with pytest.raises(ArtifactError, match="no trained artifact.*--seed 4"):
        load_pretrained("air-multi-mnist", seed=4, directory=tmp_path)
    with pytest.raises(ValueError, match="unknown pretrained model"):
        load_pretrained("air-mnist", directory=tmp_path)
