"""The run layer and the one training loop: resume, refusal, records, artifacts, loading, determinism."""
import json
import os
import pickle
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from airlib import experiments, pretrained, runs, train as T
from airlib.experiments.multi_mnist import evaluate_counts
from airlib.runs import ArtifactError, RunError

NAME = "air-multi-mnist"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """One finished smoke run of AIR (300 steps, a few seconds)."""
    d = tmp_path_factory.mktemp("run")
    return T.train(NAME, "smoke", 0, run_dir=d, progress=False), d


def _as_artifact(run_dir: Path, directory: Path, seed: int = 0) -> Path:
    """Copies a run's record and weights where load_pretrained looks (bypassing promote's smoke refusal)."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = runs.artifact_stem(NAME, seed, directory)
    shutil.copy(run_dir / "model.safetensors", stem.with_suffix(".safetensors"))
    record = json.loads((run_dir / "model.json").read_text())
    stem.with_suffix(".json").write_text(json.dumps(dict(record, seed=seed)))
    return stem


def test_record_has_every_key_and_the_data_hashes(smoke_run):
    run, d = smoke_run
    rec = json.loads((d / "model.json").read_text())
    assert set(runs.RECORD_KEYS) <= set(rec)
    assert rec["finished"] and rec["steps"] == experiments.config(NAME, "smoke")[1].steps
    assert rec["weights_sha256"] == runs.file_sha256(d / "model.safetensors")
    from airlib.data import multi_mnist_splits, tensor_sha256
    _, test = multi_mnist_splits("smoke")
    assert rec["data_sha256"]["test_images"] == tensor_sha256(torch.from_numpy(test.images))
    assert [h["step"] for h in runs.read_metrics(d / "metrics.jsonl")] == [h["step"] for h in rec["history"]]


def test_resume_is_bit_exact_and_counts_redone_time(tmp_path, smoke_run):
    run, _ = smoke_run
    T.train(NAME, "smoke", 0, run_dir=tmp_path, stop_at=120, progress=False)
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 150, "test_co')                       # a line cut short by a kill
    resumed = T.train(NAME, "smoke", 0, run_dir=tmp_path, progress=False)
    a, b = run.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.record["wall_time_s"] >= resumed.record["train_time_s"]
    assert [h["step"] for h in resumed.record["history"]] == [h["step"] for h in run.record["history"]]


def test_a_checkpoint_of_another_run_is_refused_not_overwritten(tmp_path):
    T.train(NAME, "smoke", 0, run_dir=tmp_path, stop_at=5, progress=False)
    before = (tmp_path / "checkpoint.pt").read_bytes()
    with pytest.raises(RunError, match="seed"):
        T.train(NAME, "smoke", 1, run_dir=tmp_path, stop_at=5, progress=False)
    with pytest.raises(RunError, match="train_config"):
        T.train(NAME, "smoke", 0, run_dir=tmp_path, stop_at=5, progress=False, overrides={"train.lr": 1e-4})
    with pytest.raises(RunError, match="train_config"):     # its learning rate schedule reads steps: not extendable
        T.train(NAME, "smoke", 0, run_dir=tmp_path, stop_at=5, progress=False, overrides={"train.steps": 10_000})
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_a_truncated_checkpoint_falls_back_to_the_previous_one(tmp_path):
    T.train(NAME, "smoke", 0, run_dir=tmp_path, stop_at=50, progress=False)
    T.train(NAME, "smoke", 0, run_dir=tmp_path, stop_at=100, progress=False)
    ck = tmp_path / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[:1000])
    identity = torch.load(ck.with_suffix(".prev.pt"), weights_only=True)["identity"]
    assert runs.load_checkpoint(ck, identity)["step"] == 50
    ck.with_suffix(".prev.pt").write_bytes(b"garbage")
    with pytest.raises(RunError, match=str(ck.name)):
        T.train(NAME, "smoke", 0, run_dir=tmp_path, stop_at=150, progress=False)


class _Payload:
    """Unpickling this runs code: it must never happen."""
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_no_pickled_code_is_ever_loaded(tmp_path, smoke_run):
    _, d = smoke_run
    marker = tmp_path / "pwned"
    # a pickled payload as a checkpoint
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    torch.save({"identity": _Payload(marker)}, run_dir / "checkpoint.pt")
    with pytest.raises(RunError):
        T.train(NAME, "smoke", 0, run_dir=run_dir, stop_at=1, progress=False)
    # a pickled payload in place of the weights, beside an untouched record
    stem = _as_artifact(d, tmp_path / "arts")
    with open(stem.with_suffix(".safetensors"), "wb") as f:
        pickle.dump(_Payload(marker), f)
    with pytest.raises(ArtifactError, match="does not match its record"):
        pretrained.load_pretrained(NAME, 0, directory=tmp_path / "arts")
    assert not marker.exists()


def test_weights_are_checked_against_the_record(tmp_path, smoke_run):
    _, d = smoke_run
    arts = tmp_path / "arts"
    stem = _as_artifact(d, arts, seed=0)
    model = pretrained.load_pretrained(NAME, 0, directory=arts)
    raw = bytearray(stem.with_suffix(".safetensors").read_bytes())
    for i in range(64):                                            # 64 flipped bytes in the weights
        raw[-1000 - 7 * i] ^= 0xFF
    stem.with_suffix(".safetensors").write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match=r"air-multi-mnist-seed0\.safetensors does not match"):
        pretrained.load_pretrained(NAME, 0, directory=arts)
    assert model.record["seed"] == 0


def test_load_pretrained_loads_the_trained_weights(tmp_path, smoke_run):
    run, d = smoke_run
    _as_artifact(d, tmp_path)
    model = pretrained.load_pretrained(NAME, 0, directory=tmp_path)
    trained = run.model.eval()
    x = torch.from_numpy(__import__("airlib").data.multi_mnist_splits("smoke")[1].images[:50])
    a, b = model.infer(x), trained.infer(x)
    assert torch.equal(a.count, b.count)
    assert torch.allclose(a.z_where, b.z_where, atol=2e-2)     # fp16 weights
    fresh = experiments.get(NAME).build(*experiments.config(NAME, "smoke"))
    assert not torch.allclose(fresh.eval().infer(x).z_where, b.z_where, atol=2e-2)


def test_stale_records_are_refused_with_the_command(tmp_path, smoke_run):
    _, d = smoke_run
    stem = _as_artifact(d, tmp_path)
    rec = json.loads(stem.with_suffix(".json").read_text())
    bad = dict(rec, data_sha256=dict(rec["data_sha256"], test_images="0" * 64))
    stem.with_suffix(".json").write_text(json.dumps(bad))
    with pytest.raises(ArtifactError, match="other data.*python -m airlib train air-multi-mnist"):
        pretrained.load_pretrained(NAME, 0, directory=tmp_path)
    bad = dict(rec, model_config=dict(rec["model_config"], lstm=7))
    stem.with_suffix(".json").write_text(json.dumps(bad))
    with pytest.raises(ArtifactError, match="model_config"):
        pretrained.load_pretrained(NAME, 0, directory=tmp_path)
    with pytest.raises(ArtifactError, match="no trained artifact"):
        pretrained.load_pretrained(NAME, 3, directory=tmp_path)
    with pytest.raises(ValueError, match="unknown experiment"):
        pretrained.load_pretrained("air-mnist", directory=tmp_path)


def test_a_failed_seed_warns_and_names_the_good_ones(tmp_path, smoke_run, monkeypatch):
    _, d = smoke_run
    exp = experiments.get(NAME)
    assert exp.failed({"profile": "paper", "metrics": {"test_count_accuracy": 0.97}})
    assert not exp.failed({"profile": "paper", "metrics": {"test_count_accuracy": 0.98}})
    assert not exp.failed({"profile": "smoke", "metrics": {"test_count_accuracy": 0.3}})   # smoke runs are tiny
    monkeypatch.setattr(type(exp), "failed", lambda self, r: r["metrics"]["test_count_accuracy"] < 0.98)
    for seed, acc in ((0, 0.99), (4, 0.34)):
        stem = _as_artifact(d, tmp_path, seed)
        rec = json.loads(stem.with_suffix(".json").read_text())
        rec["metrics"]["test_count_accuracy"] = acc
        stem.with_suffix(".json").write_text(json.dumps(rec))
    with pytest.warns(UserWarning, match=r"seed 4 failed.*succeeded: \[0\]"):
        pretrained.load_pretrained(NAME, 4, directory=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pretrained.load_pretrained(NAME, 0, directory=tmp_path)


def test_promote_is_the_only_way_into_artifacts(tmp_path, smoke_run):
    _, d = smoke_run
    with pytest.raises(ArtifactError, match="smoke run"):
        runs.promote(d, tmp_path)
    paper = tmp_path / "paper-run"
    shutil.copytree(d, paper)
    rec = json.loads((paper / "model.json").read_text())
    runs.write_json(paper / "model.json", dict(rec, profile="paper", finished=False))
    with pytest.raises(ArtifactError, match="unfinished"):
        runs.promote(paper, tmp_path)
    runs.write_json(paper / "model.json", dict(rec, profile="paper"))
    stem = runs.promote(paper, tmp_path / "arts")
    assert stem.with_suffix(".safetensors").read_bytes() == (d / "model.safetensors").read_bytes()
    with pytest.raises(ArtifactError, match="exists"):
        runs.promote(paper, tmp_path / "arts")
    runs.promote(paper, tmp_path / "arts", weights=False, replace=True)
    assert not stem.with_suffix(".safetensors").exists() and stem.with_suffix(".json").exists()


def test_training_never_writes_to_artifacts(tmp_path, monkeypatch):
    before = {p.name: p.stat().st_mtime_ns for p in runs.ARTIFACTS.iterdir()}
    monkeypatch.chdir(tmp_path)
    T.train(NAME, "smoke", 0, run_dir=tmp_path / "r", stop_at=20, progress=False)
    T.train("3d-supervised", "smoke", 0, run_dir=tmp_path / "s", progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in runs.ARTIFACTS.iterdir()} == before


def test_evaluate_counts_against_an_independent_count(smoke_run):
    run, _ = smoke_run
    from airlib.data import multi_mnist_splits
    _, test = multi_mnist_splits("smoke")
    x, c = torch.from_numpy(test.images[:200]), torch.from_numpy(test.counts[:200])
    model = run.model.eval()
    count = model.infer(x).count
    ev = evaluate_counts(model, x, c, 1e-7, batch=64)
    assert ev["count_accuracy"] == pytest.approx((count == c).double().mean().item())
    assert ev["mean_count"] == pytest.approx(count.double().mean().item())


_FIRST_STEPS = """
import sys, torch, json
from airlib import train as T
run = T.train("air-multi-mnist", "smoke", 3, run_dir=sys.argv[1], stop_at=3, progress=False)
state = torch.load(sys.argv[1] + "/checkpoint.pt", weights_only=True)
print(json.dumps([float(v.double().sum()) for v in state["model"].values()]))
"""


def test_two_fresh_processes_give_bit_identical_runs(tmp_path):
    out = []
    for i in range(2):
        r = subprocess.run([sys.executable, "-c", _FIRST_STEPS, str(tmp_path / f"p{i}")], capture_output=True,
                           text=True, env=dict(os.environ), check=True)
        out.append(r.stdout.strip().splitlines()[-1])
    assert out[0] == out[1]


@pytest.mark.parametrize("argv, message", [
    (["--profile", "large"], "invalid choice"),
    (["--seed", str(10**30)], "seed must be"),
    (["--stop-at", "-3"], "stop-at must be non-negative"),
    (["--set", "train.nothing=1"], "unknown override"),
])
def test_the_command_line_refuses_bad_options(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        T.main([NAME, *argv])
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_every_committed_artifact_holds_its_recorded_accuracy():
    """Loads each committed AIR/DAIR artifact and re-measures count accuracy on 1,000 held-out images."""
    from airlib.data import multi_mnist_splits
    _, test = multi_mnist_splits("paper")
    x, c = torch.from_numpy(test.images[:1000]), torch.from_numpy(test.counts[:1000])
    checked = 0
    for name in ("air-multi-mnist", "dair-multi-mnist"):
        for seed in pretrained.available_seeds(name, weights=True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = pretrained.load_pretrained(name, seed)
            acc = (model.infer(x).count == c).double().mean().item()
            recorded = model.record["metrics"]["test_count_accuracy"]
            assert abs(acc - recorded) < 0.02, (name, seed, acc, recorded)
            checked += 1
    assert checked >= 2


def test_artifacts_keep_fp16_only_where_the_values_fit():
    """Weights go to fp16; a running statistic of thousands of nats squared would overflow it to inf,
    and a run continued from the artifact would divide by it, so it stays fp32."""
    small, large = torch.tensor([0.1, -3.0]), torch.tensor([7.1e4, 1.0])
    assert T.storable(small).dtype == torch.float16
    kept = T.storable(large)
    assert kept.dtype == torch.float32 and torch.equal(kept, large)
    assert T.storable(torch.tensor([3, 70000])).dtype == torch.int64       # integers untouched


def test_the_greedy_warm_up_adds_its_decaying_prefix_term():
    """The warm-up's weight decays linearly to 0, and the loss moves by exactly weight * sum_i log p(x | z^{1:i})."""
    import dataclasses
    from airlib.experiments import multi_mnist as mm
    from airlib.air import AIR
    cfg = dataclasses.replace(mm.SMOKE, greedy_weight=2.0, greedy_steps=100)
    assert [mm.greedy_weight_at(cfg, s) for s in (0, 25, 100, 150)] == [2.0, 1.5, 0.0, 0.0]
    assert mm.greedy_weight_at(mm.SMOKE, 0) == 0.0                     # off unless asked for
    exp = experiments.get("air-multi-mnist")
    torch.manual_seed(0)
    model = AIR(mm.smoke_model(False))
    x = torch.rand(4, 50, 50, generator=torch.Generator().manual_seed(0))
    batch = (x, torch.zeros(4, dtype=torch.long))
    plain, _ = exp.loss(model, batch, mm.SMOKE, 25, torch.Generator().manual_seed(1))
    warm, _ = exp.loss(model, batch, cfg, 25, torch.Generator().manual_seed(1))
    _, info = model.loss(x, mm.pres_prior_at(cfg, 25), torch.Generator().manual_seed(1))
    prefix = model.prefix_loglik(info["trace"], x).sum(1).mean()
    torch.testing.assert_close(warm, plain - 1.5 * prefix)
