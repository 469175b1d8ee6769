"""Sweeps (airlib.sweep): the same records on local processes and on a local Ray cluster, retries,
skipping and resuming, the sweep file's errors, and the report against a second computation."""
import json
import statistics
import sys
from pathlib import Path

import pytest
import torch

from airlib import runs, sweep, train
from airlib.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "sweeps" / "smoke.toml"


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster (2 CPUs) for this file's Ray runs: each start costs about 15 s. The backend
    finds it running, so it neither starts nor stops one (that logic: test_the_ray_backend_stops_only_...)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def both_backends(tmp_path_factory, ray_cluster):
    """The 2-seed smoke sweep (100 steps) run once locally (2 processes) and once on a local Ray cluster (2 CPUs)."""
    spec = sweep.load_spec(SMOKE)
    out = {}
    for name in ("local", "ray"):
        folder = tmp_path_factory.mktemp(name)
        result = sweep.run_sweep(spec, name, jobs=2, out=folder, log=lambda line: None)
        assert result["failed"] == {} and len(result["done"]) == 2
        out[name] = (folder, result)
    return spec, out


def test_local_and_ray_records_are_identical_but_for_time_and_host(both_backends):
    spec, out = both_backends
    for job_local, job_ray in zip(sweep.expand(spec, out["local"][0]), sweep.expand(spec, out["ray"][0])):
        a = json.loads((job_local.run_dir / "model.json").read_text())
        b = json.loads((job_ray.run_dir / "model.json").read_text())
        assert a["finished"] and a["seed"] == job_local.seed
        assert sweep.comparable(a) == sweep.comparable(b)
        assert a["weights_sha256"] == b["weights_sha256"] == runs.file_sha256(job_ray.run_dir / "model.safetensors")
        assert (job_local.run_dir / "model.safetensors").read_bytes() == (job_ray.run_dir / "model.safetensors").read_bytes()
        # the same job states the same command, without where it was kept
        assert a["command"] == (f"python -m airlib train air-multi-mnist --profile smoke --seed {job_local.seed} "
                                "--set train.steps=100 --device cpu")
    seeds = [json.loads((j.run_dir / "model.json").read_text())["weights_sha256"] for j in sweep.expand(spec, out["ray"][0])]
    assert len(set(seeds)) == 2          # the seeds do differ: identical records are not identical by accident


def test_comparable_keeps_what_a_run_computed():
    record = dict(seed=1, metrics={"a": 0.5}, wall_time_s=3.0, train_time_s=2.0, host="x",
                  history=[dict(step=0, elbo=1.0, step_time=0.1, train_time=0.0)])
    assert sweep.comparable(record) == dict(seed=1, metrics={"a": 0.5}, history=[dict(step=0, elbo=1.0)])
    assert sweep.comparable(dict(record, metrics={"a": 0.6})) != sweep.comparable(record)


def test_a_finished_sweep_is_skipped_when_run_again(both_backends, monkeypatch):
    spec, out = both_backends
    monkeypatch.setattr(sweep, "execute", lambda job, env=None: pytest.fail(f"{job.name} ran again"))
    result = sweep.run_sweep(spec, "local", out=out["local"][0], log=lambda line: None)
    assert sorted(result["skipped"]) == sorted(j.name for j in sweep.expand(spec)) and result["done"] == []
    summary = json.loads((out["local"][0] / "sweep.json").read_text())
    assert [r["backend"] for r in summary["runs"]] == ["local", "local"]


def test_an_interrupted_job_resumes_from_its_checkpoint(both_backends, tmp_path):
    spec, out = both_backends
    (job,) = [j for j in sweep.expand(spec, tmp_path) if j.seed == 1]
    partial = train.train(job.experiment, job.profile, job.seed, job.run_dir, stop_at=50, progress=False,
                          overrides=dict(job.overrides))
    assert not partial.record["finished"]
    early = {h["step"]: h["train_time"] for h in partial.record["history"]}
    result = sweep.run_jobs([job], "local", log=lambda line: None)
    assert result["done"] == [job.name]
    record = json.loads((job.run_dir / "model.json").read_text())
    # the logged times of steps 0-50 are the interrupted process's: the job went on from step 50
    assert {h["step"]: h["train_time"] for h in record["history"] if h["step"] <= 50} == early
    (uninterrupted,) = [j for j in sweep.expand(spec, out["local"][0]) if j.seed == 1]
    assert record["weights_sha256"] == json.loads((uninterrupted.run_dir / "model.json").read_text())["weights_sha256"]


def _fake_run(job: sweep.Job, metric: float) -> dict[str, bytes]:
    record = dict(experiment=job.experiment, profile=job.profile, seed=job.seed, finished=True,
                  overrides=dict(job.overrides), metrics={"test_count_accuracy": metric}, wall_time_s=60.0)
    return {"model.json": json.dumps(record).encode(), "model.safetensors": b"w", "metrics.jsonl": b""}


def test_a_failed_job_is_retried_once_and_the_others_carry_on(tmp_path, monkeypatch):
    spec = sweep.parse_spec(dict(experiment="air-multi-mnist", profile="paper", seeds=[0, 1, 2]))
    todo = sweep.expand(spec, tmp_path)
    calls = []

    def execute(job, env=None):
        calls.append(job.seed)
        if job.seed == 1 and calls.count(1) == 1:
            raise RuntimeError("killed")          # fails once, then succeeds
        if job.seed == 2:
            raise RuntimeError("always broken")
        return _fake_run(job, 0.99)
    monkeypatch.setattr(sweep, "execute", execute)
    lines = []
    result = sweep.run_jobs(todo, "local", jobs=1, log=lines.append)
    assert sorted(calls) == [0, 1, 1, 2, 2]
    assert sorted(result["done"]) == [todo[0].name, todo[1].name]
    assert list(result["failed"]) == [todo[2].name] and "always broken" in result["failed"][todo[2].name]
    assert result["attempts"] == {todo[0].name: 1, todo[1].name: 2, todo[2].name: 2}
    assert any("retrying" in line and todo[1].name in line for line in lines)
    assert todo[1].finished() and not todo[2].finished()


def test_a_job_that_fails_for_real_reports_its_error_on_both_backends(tmp_path, ray_cluster):
    spec = sweep.parse_spec(dict(experiment="air-multi-mnist", profile="smoke", seeds=[5], set={"train.steps": 20}))
    (job,) = sweep.expand(spec, tmp_path)
    job.run_dir.mkdir(parents=True)
    torch.save({"identity": {"experiment": "another"}}, job.run_dir / "checkpoint.pt")   # another run's checkpoint
    for backend in ("local", "ray"):
        result = sweep.run_jobs([job], backend, jobs=1, log=lambda line: None)
        assert result["attempts"] == {job.name: 2}
        assert "belongs to another run" in result["failed"][job.name]


class FakeRay:
    """Stands in for the ray module: records init and shutdown."""
    def __init__(self, running: bool):
        self.running, self.calls = running, []

    def is_initialized(self):
        return self.running

    def init(self, **kwargs):
        self.calls.append(("init", kwargs))
        self.running = True

    def shutdown(self):
        self.calls.append(("shutdown", {}))
        self.running = False

    def remote(self, fn):
        return fn


@pytest.mark.parametrize("running", [False, True])
def test_the_ray_backend_stops_only_a_cluster_it_started(running, monkeypatch):
    fake = FakeRay(running)
    monkeypatch.setitem(sys.modules, "ray", fake)
    sweep.backend("ray", jobs=3).close()
    if running:                                   # someone else's cluster: used as it is, left running
        assert fake.calls == [] and fake.running
    else:                                         # a local cluster of `jobs` CPUs, stopped when the jobs are done
        assert [c for c, _ in fake.calls] == ["init", "shutdown"] and fake.calls[0][1]["num_cpus"] == 3
    fake = FakeRay(False)
    monkeypatch.setitem(sys.modules, "ray", fake)
    sweep.backend("ray", jobs=2, address="h:1").close()
    assert fake.calls[0][1]["address"] == "h:1" and "num_cpus" not in fake.calls[0][1]


def test_the_report_against_a_second_computation(tmp_path):
    spec = sweep.parse_spec(dict(experiment="air-multi-mnist", profile="paper", seeds=[0, 1, 2],
                                 set={"train.steps": 100}, grid={"train.clip": [10.0, 1e4]}))
    todo = sweep.expand(spec, tmp_path)
    assert len(todo) == 6 and len({j.run_dir for j in todo}) == 6
    values = {(10.0, 0): 0.99, (10.0, 1): 0.40, (10.0, 2): 0.995, (1e4, 0): 0.985}   # (clip, seed) -> accuracy
    for job in todo:
        key = (dict(job.overrides)["train.clip"], job.seed)
        if key in values:
            sweep.collect(job, _fake_run(job, values[key]))
    rows = sweep.summarise(spec, todo)
    assert [r["overrides"] for r in rows] == [{"train.steps": 100, "train.clip": 10.0},
                                              {"train.steps": 100, "train.clip": 1e4}]
    first, second = rows
    assert (first["finished"], first["succeeded"], first["failed_seeds"]) == (3, 2, [1])
    assert first["success_rate"] == pytest.approx(2 / 3)
    assert first["mean"] == pytest.approx(statistics.mean([0.99, 0.40, 0.995]))
    assert first["sd"] == pytest.approx(statistics.stdev([0.99, 0.40, 0.995]))
    assert (first["min"], first["max"]) == (0.40, 0.995)
    assert (second["finished"], second["succeeded"], second["sd"]) == (1, 1, None)
    text = sweep.format_report(spec, rows)
    assert "2/3 succeeded (67%)" in text and "failed seeds: [1]" in text and "1/3 finished" in text


@pytest.mark.parametrize("raw, message", [
    (dict(experiment="air-multi-mnist", seed=[0]), "unknown keys ['seed']"),
    (dict(profile="paper"), "names no experiment"),
    (dict(experiment="air-multi-mnst"), "unknown experiment 'air-multi-mnst'"),
    (dict(experiment="air-multi-mnist", profile="big"), "unknown profile 'big'"),
    (dict(experiment="air-multi-mnist", seeds=[0, -1]), "non-negative integers"),
    (dict(experiment="air-multi-mnist", seeds=[1, 1]), "seeds repeat"),
    (dict(experiment="air-multi-mnist", seeds={"stop": 3, "step": 1}), "{start = A, stop = B}"),
    (dict(experiment="air-multi-mnist", grid={"train.clip": 10}), "grid.train.clip must be a non-empty list"),
    (dict(experiment="air-multi-mnist", grid={"train.clipp": [1]}), "unknown override 'train.clipp'"),
    (dict(experiment="air-multi-mnist", set={"train.clip": 1}, grid={"train.clip": [1]}), "both set and swept"),
    (dict(experiment="air-multi-mnist", name="../x"), "plain folder name"),
    ([1, 2], "must be a table"),
])
def test_bad_sweep_files_are_named(raw, message):
    with pytest.raises(sweep.SweepError, match=None) as e:
        sweep.parse_spec(raw)
    assert message in str(e.value)


def test_yaml_and_toml_files_give_the_same_sweep(tmp_path):
    (tmp_path / "a.yaml").write_text("experiment: air-multi-mnist\nseeds: {start: 0, stop: 3}\n"
                                     "grid:\n  train.clip: [10.0, 100.0]\n")
    (tmp_path / "a.toml").write_text('experiment = "air-multi-mnist"\nseeds = [0, 1, 2]\n[grid]\n"train.clip" = [10.0, 100.0]\n')
    a, b = sweep.load_spec(tmp_path / "a.yaml"), sweep.load_spec(tmp_path / "a.toml")
    assert a == b and len(sweep.expand(a)) == 6
    (tmp_path / "a.json").write_text("{}")
    with pytest.raises(sweep.SweepError, match="ends in .toml"):
        sweep.load_spec(tmp_path / "a.json")
    (tmp_path / "b.toml").write_text("experiment = [")
    with pytest.raises(sweep.SweepError, match="does not parse"):
        sweep.load_spec(tmp_path / "b.toml")


@pytest.mark.parametrize("argv, message", [
    (["sweep", "nowhere.toml"], "no sweep file nowhere.toml"),
    (["sweep", str(SMOKE), "--address", "1.2.3.4:6379"], "--address names a Ray cluster"),
    (["sweep", str(SMOKE), "--jobs", "0"], "jobs must be a positive integer"),
    (["sweep", str(SMOKE), "--set", "train.steps=ten"], "must be JSON"),
    (["sweep", str(SMOKE), "--set", "train.stepz=10"], "unknown override 'train.stepz'"),
])
def test_the_sweep_command_names_bad_options(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())           # nothing ran


def test_the_report_command_runs_nothing(both_backends, capsys, monkeypatch):
    spec, out = both_backends
    monkeypatch.setattr(sweep, "run_jobs", lambda *a, **k: pytest.fail("--report trained"))
    assert main(["sweep", str(SMOKE), "--report", "--out", str(out["ray"][0])]) == 0
    text = capsys.readouterr().out
    assert "2/2 finished" in text and "success not judged" in text


def test_devices_are_resolved_or_named():
    assert runs.resolve_device("cpu") == torch.device("cpu")
    assert runs.resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        runs.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch sees no GPU"):
            runs.resolve_device("cuda")


def test_the_recorded_command_drops_where_and_how_a_run_is_kept():
    argv = ["air-multi-mnist", "--seed", "3", "--run-dir", "/x/y", "--stop-at=7", "--no-progress", "--set", "train.clip=10"]
    assert train.recorded_command(argv) == "python -m airlib train air-multi-mnist --seed 3 --set train.clip=10"


def test_a_record_of_another_job_in_the_folder_does_not_count_as_finished(tmp_path):
    spec = sweep.parse_spec(dict(experiment="air-multi-mnist", profile="paper", seeds=[0], set={"train.clip": 10.0}))
    (job,) = sweep.expand(spec, tmp_path)
    sweep.collect(job, _fake_run(job, 0.99))
    assert job.finished()
    from dataclasses import replace
    for other in (replace(job, seed=1), replace(job, overrides=(("train.clip", 1.0),)), replace(job, profile="smoke"),
                  replace(job, experiment="dair-multi-mnist")):
        assert not other.finished()
    (job.run_dir / "model.safetensors").unlink()
    assert not job.finished()


def test_reproduce_runs_the_books_list_as_one_sweep_on_the_chosen_backend(monkeypatch, tmp_path):
    from airlib import reproduce
    seen, promoted = {}, []

    def run_jobs(todo, backend_name, jobs, address, log=print):
        seen.update(todo=todo, backend=backend_name, jobs=jobs, address=address)
        return dict(failed={}, done=[j.name for j in todo], skipped=[], wall_time_s=1.0)
    monkeypatch.setattr(sweep, "run_jobs", run_jobs)
    monkeypatch.setattr(reproduce, "OUT", tmp_path)
    monkeypatch.setattr(runs, "promote", lambda run_dir, directory, replace: promoted.append((run_dir, directory)))
    assert reproduce.reproduce(only=["dair-multi-mnist", "dair-counts-012"], jobs=3, book=False, backend="ray",
                               address="h:1", device="auto") == 0
    todo = seen["todo"]
    assert (seen["backend"], seen["jobs"], seen["address"]) == ("ray", 3, "h:1")
    committed = [int(p.stem.rsplit("seed", 1)[1]) for p in runs.ARTIFACTS.glob("dair-multi-mnist-seed*.json")]
    assert len(committed) >= 10                                # every committed seed, fresh ones too
    assert sorted((j.experiment, j.seed) for j in todo) == sorted(
        [("dair-multi-mnist", s) for s in committed] + [("dair-counts-012", 0)])
    assert all(j.profile == "paper" and j.device == "auto" and j.overrides == () for j in todo)
    assert all(j.run_dir == tmp_path / f"{j.experiment}-seed{j.seed}" for j in todo)
    assert promoted == [(j.run_dir, tmp_path / "artifacts") for j in todo]
    monkeypatch.setattr(sweep, "run_jobs", lambda *a, **k: dict(failed={"x": "boom"}, done=[], skipped=[],
                                                                  wall_time_s=1.0))
    promoted.clear()
    assert reproduce.reproduce(only=["dair-multi-mnist"], book=False) == 1 and promoted == []
