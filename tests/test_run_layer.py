"""The run layer against independent references: multi-MNIST's schedules, batches and IoU, the
record's provenance, atomic files, the training loop's bookkeeping, the command line and the loader.

Written to kill the realistic survivors of the mutation run (benchmarks/mutation-before.json). One smoke
run (150 steps, a few seconds) is shared by the module; everything else uses small tensors,
hand-computed values, a brute-force second implementation, or a stopped-early run.
"""
import dataclasses
import inspect
import itertools
import json
import math
import os
import platform
import re
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from airlib import experiments, pretrained, runs, train as T
from airlib.air import AIR
from airlib.experiments import as_dict
from airlib.experiments import multi_mnist as mm
from airlib.experiments.multi_mnist import (SMOKE, MultiMNISTExperiment, evaluate_counts, pres_prior_at,
                                            smoke_model, snapshots, window_iou)
from airlib.runs import ArtifactError

NAME = "air-multi-mnist"
SEED_BOUND = 9223344366821        # (2**63 - 1) // 1_000_003, worked out by hand


# ------------------------------------------------------------------ shared fixtures

@pytest.fixture(scope="module")
def smoke_data():
    """The smoke profile's data, and a small copy (40 test images) for quick evaluations."""
    data = experiments.get(NAME).data("smoke")
    small = dict(data, test_images=data["test_images"][:40], test_counts=data["test_counts"][:40])
    return data, small


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """``load_or_train`` of the smoke profile (one 150-step run), watching the loop from outside.

    Records every call of the experiment's loss (step, generator, info) and every checkpoint saved,
    and puts the temporary run folder where the test can look into it.
    """
    torch.set_num_threads(1)
    run_dir = tmp_path_factory.mktemp("smoke-run")
    calls = dict(loss=[], saves=[], mkdtemp=[])
    orig_loss, orig_save, orig_mkdtemp = MultiMNISTExperiment.loss, runs.save_checkpoint, tempfile.mkdtemp

    def loss(self, model, batch, cfg, step, generator):
        out = orig_loss(self, model, batch, cfg, step, generator)
        calls["loss"].append((step, generator, out[1]))
        return out

    def save(path, state):
        calls["saves"].append(state["step"])
        return orig_save(path, state)

    def mkdtemp(*args, prefix="", **kwargs):
        if not prefix.startswith("airlib-"):
            return orig_mkdtemp(*args, prefix=prefix, **kwargs)
        calls["mkdtemp"].append(prefix)
        return str(run_dir)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(MultiMNISTExperiment, "loss", loss)
        mp.setattr(runs, "save_checkpoint", save)
        mp.setattr(tempfile, "mkdtemp", mkdtemp)
        model = pretrained.load_or_train(NAME, "smoke", 0)
    return SimpleNamespace(model=model, dir=run_dir, calls=calls)


# ------------------------------------------------------------------ multi_mnist: IoU

def _box(z):
    """A window's pixel square from its meaning: it shows [x - 1/s, x + 1/s] of the [-1, 1] image."""
    s, x, y = (float(v) for v in z)
    return ((x - 1 / s + 1) * 25, (x + 1 / s + 1) * 25), ((y - 1 / s + 1) * 25, (y + 1 / s + 1) * 25)


def _grid_iou(a, b, h=0.05):
    """IoU by counting the cells of a fine pixel grid that each window covers."""
    g = torch.arange(-40.0, 90.0, h, dtype=torch.float64) + h / 2

    def mask(z):
        (x0, x1), (y0, y1) = _box(z)
        return ((g >= y0) & (g < y1))[:, None] & ((g >= x0) & (g < x1))[None, :]
    ma, mb = mask(a), mask(b)
    union = (ma | mb).sum().item()
    return (ma & mb).sum().item() / union


def test_window_iou_matches_hand_computed_overlaps():
    whole = [1.0, 0.0, 0.0]           # [0, 50]^2
    centre = [2.0, 0.0, 0.0]          # [12.5, 37.5]^2, inside `whole`: 625 / 2500
    right = [2.0, 0.5, 0.0]           # [25, 50] x [12.5, 37.5]: shares 12.5 x 25 with `centre`
    corner = [2.0, -0.8, 0.8]         # [-7.5, 17.5] x [32.5, 57.5]: beside `right`, rows overlapping
    a = torch.tensor([whole, centre, right, centre, whole])
    b = torch.tensor([centre, right, corner, centre, corner])
    inter_wc = 17.5 * 17.5            # `whole` and `corner`: [0, 17.5] x [32.5, 50]
    expected = torch.tensor([0.25, 312.5 / 937.5, 0.0, 1.0, inter_wc / (2500 + 625 - inter_wc)])
    torch.testing.assert_close(window_iou(a, b), expected)
    torch.testing.assert_close(window_iou(b, a), expected)


def test_window_iou_matches_a_pixel_grid_count():
    g = torch.Generator().manual_seed(0)
    a = torch.cat([1 + 3 * torch.rand(12, 1, generator=g), 2 * torch.rand(12, 2, generator=g) - 1], 1)
    b = a + torch.cat([torch.rand(12, 1, generator=g), 0.4 * torch.rand(12, 2, generator=g) - 0.2], 1)
    ious = window_iou(a, b)
    assert (ious > 0).sum() >= 6       # mostly overlapping pairs, so the counts test something
    for i in range(12):
        assert ious[i].item() == pytest.approx(_grid_iou(a[i], b[i]), abs=0.01)


def test_window_iou_is_elementwise_over_leading_dims():
    g = torch.Generator().manual_seed(1)
    a = torch.cat([1 + 3 * torch.rand(2, 3, 1, generator=g), 2 * torch.rand(2, 3, 2, generator=g) - 1], -1)
    b = torch.cat([1 + 3 * torch.rand(2, 3, 1, generator=g), 2 * torch.rand(2, 3, 2, generator=g) - 1], -1)
    torch.testing.assert_close(window_iou(a, b), torch.stack([window_iou(a[i], b[i]) for i in range(2)]))


# ------------------------------------------------------------------ multi_mnist: schedules

def test_pres_prior_is_log_linear_between_its_ends():
    cfg = replace(SMOKE, prior_start=0.1, prior_end=1e-3, anneal_steps=100)
    assert pres_prior_at(cfg, 0) == pytest.approx(0.1, rel=1e-12)
    assert pres_prior_at(cfg, 50) == pytest.approx(1e-2, rel=1e-12)      # the geometric mean
    assert pres_prior_at(cfg, 25) == pytest.approx(10 ** -1.5, rel=1e-12)
    assert pres_prior_at(cfg, 100) == pytest.approx(1e-3, rel=1e-12)
    assert pres_prior_at(cfg, 250) == pytest.approx(1e-3, rel=1e-12)     # held after annealing
    # the smoke profile: 0.5 -> 1e-7 over 75 steps
    assert pres_prior_at(SMOKE, 30) == pytest.approx(0.5 * 2e-7 ** 0.4, rel=1e-12)
    assert pres_prior_at(SMOKE, 150) == pytest.approx(1e-7, rel=1e-12)


def test_lr_scale_is_flat_then_linear_to_lr_final():
    exp = MultiMNISTExperiment("t", difference=False)
    cfg = replace(SMOKE, steps=1000, lr_decay_from=0.5, lr_final=0.1)
    for step, want in [(0, 1.0), (499, 1.0), (500, 1.0), (750, 0.55), (900, 0.28), (1000, 0.1)]:
        assert exp.lr_scale(cfg, step) == pytest.approx(want, rel=1e-12), step
    assert exp.lr_scale(SMOKE, 120) == pytest.approx(0.46, rel=1e-12)    # 150 steps, decay from 75


# ------------------------------------------------------------------ multi_mnist: batches

def _index_data(n):
    """Training data whose counts are the image indices, so a batch tells which images it holds."""
    images = (torch.arange(n, dtype=torch.uint8)[:, None, None] * 5).expand(n, 2, 2).contiguous()
    return {"train_images": images, "train_counts": torch.arange(n)}


def test_batches_are_a_function_of_seed_and_step(monkeypatch):
    exp = MultiMNISTExperiment("t", difference=False)
    data, cfg = _index_data(48), replace(SMOKE, batch_size=8)         # 6 steps per epoch
    perms = []
    real_randperm = torch.randperm
    monkeypatch.setattr(torch, "randperm", lambda *a, **k: perms.append(a) or real_randperm(*a, **k))
    epoch0 = [exp.batch(data, cfg, 3, s) for s in range(6)]
    assert len(perms) == 1                                            # one permutation per epoch
    idx = torch.cat([c for _, c in epoch0])
    assert sorted(idx.tolist()) == list(range(48))                    # the epoch covers every image once
    x, c = epoch0[2]
    torch.testing.assert_close(x, data["train_images"][c].float() / 255)
    epoch1 = [exp.batch(data, cfg, 3, s) for s in range(6, 12)]
    assert len(perms) == 2
    assert sorted(torch.cat([c for _, c in epoch1]).tolist()) == list(range(48))
    assert not torch.equal(torch.cat([c for _, c in epoch1]), idx)    # a new order each epoch
    other_seed = exp.batch(data, cfg, 4, 2)[1]
    again = exp.batch(data, cfg, 3, 2)[1]                             # after other epochs and seeds
    fresh = MultiMNISTExperiment("u", difference=False).batch(data, cfg, 3, 2)[1]
    assert torch.equal(again, c) and torch.equal(fresh, c)
    assert not torch.equal(other_seed, c)


# ------------------------------------------------------------------ multi_mnist: the experiment

def test_configs_and_summary_of_air_and_dair():
    for difference, label in ((False, "AIR"), (True, "DAIR")):
        exp = MultiMNISTExperiment("t", difference=difference)
        assert exp.summary.split()[0] == label
        assert set(exp.configs) == {"smoke", "paper"}
        (small, smoke_cfg), (paper, paper_cfg) = exp.configs["smoke"], exp.configs["paper"]
        assert small.difference is difference and paper.difference is difference
        assert smoke_cfg is SMOKE and paper_cfg is mm.PAPER
        for field in ("lstm", "embed", "hidden", "z_what"):
            assert getattr(small, field) < getattr(paper, field), field
    assert experiments.config("dair-multi-mnist", "smoke")[0].difference is True


def test_optimiser_gives_the_baseline_its_own_rate():
    torch.manual_seed(0)
    exp = MultiMNISTExperiment("t", difference=False)
    model = AIR(smoke_model(False))
    cfg = replace(SMOKE, lr=5e-4, baseline_lr=2e-2)
    main, base = exp.optimiser(model, cfg).param_groups
    assert (main["lr"], base["lr"]) == (5e-4, 2e-2)
    assert {id(p) for p in base["params"]} == {id(p) for p in model.baseline.parameters()}
    assert {id(p) for p in main["params"]} | {id(p) for p in base["params"]} == {id(p) for p in model.parameters()}
    assert not {id(p) for p in main["params"]} & {id(p) for p in base["params"]}
    assert main["fused"] and base["fused"]                            # fused Adam on the CPU


def test_evaluate_keys_subset_and_final(smoke, smoke_data):
    _, small = smoke_data
    exp, model = experiments.get(NAME), smoke.model
    cfg = replace(SMOKE, eval_images=15)
    rho = 0.5 * 2e-7 ** 0.4                                           # step 30 of the smoke anneal (75 steps)
    out = exp.evaluate(model, small, cfg, 30)
    assert set(out) == {"test_count_accuracy", "test_elbo", "test_mean_count", "iou12", "q_pres", "pres_prior"}
    assert out["pres_prior"] == pytest.approx(rho, rel=1e-12)
    ref = evaluate_counts(model, small["test_images"][:15], small["test_counts"][:15], rho)
    assert out["test_elbo"] == pytest.approx(ref["elbo"], rel=1e-6)
    assert out["test_count_accuracy"] == ref["count_accuracy"] and out["iou12"] == pytest.approx(ref["iou12"])
    final = exp.evaluate(model, small, cfg, 30, final=True)
    assert final["test_images"] == 40 and set(final) == set(out) | {"test_images"}
    ref_all = evaluate_counts(model, small["test_images"], small["test_counts"], rho)
    assert final["test_elbo"] == pytest.approx(ref_all["elbo"], rel=1e-6)
    assert final["test_elbo"] != pytest.approx(out["test_elbo"], rel=1e-6)


def test_figures_are_deterministic_reconstructions_of_eight_test_images(smoke, smoke_data):
    _, small = smoke_data
    exp, model = experiments.get(NAME), smoke.model
    model.train()
    try:
        assert exp.figures(model, small, SMOKE, 7) == {}                # not a snapshot step
        figs = exp.figures(model, small, SMOKE, 50)
        assert model.training                                         # mode restored
        assert set(figs) == {f"snapshot.50.{k}" for k in ("reconstruction", "z_where", "z_pres")}
        rec = figs["snapshot.50.reconstruction"]
        assert rec.dtype == torch.float16 and rec.shape == (8, 50, 50)
        model.eval()
        with torch.no_grad():
            det = model(model.check_images(small["test_images"][:8]), sample=False)
        assert torch.equal(rec, det.reconstruction.half())
        torch.manual_seed(5)                                          # global RNG must not matter
        assert torch.equal(exp.figures(model, small, SMOKE, 50)["snapshot.50.z_where"], figs["snapshot.50.z_where"])
    finally:
        model.eval()


def test_snapshots_are_ordered_by_step():
    figs = {}
    for s in (300, 0, 100):                                          # out of order on purpose
        figs |= {f"snapshot.{s}.reconstruction": torch.full((1,), s), f"snapshot.{s}.z_where": torch.full((2,), s),
                 f"snapshot.{s}.z_pres": torch.full((3,), s)}
    figs["other.5.z_where"] = torch.zeros(1)
    out = snapshots(figs)
    assert [d["step"] for d in out] == [0, 100, 300]
    for d in out:
        assert set(d) == {"step", "reconstruction", "z_where", "z_pres"}
        s = d["step"]
        assert d["reconstruction"] is figs[f"snapshot.{s}.reconstruction"]
        assert d["z_where"] is figs[f"snapshot.{s}.z_where"] and d["z_pres"] is figs[f"snapshot.{s}.z_pres"]
    assert snapshots({"other.5.z_where": torch.zeros(1)}) == []


# ------------------------------------------------------------------ air.py: small structural facts

def test_air_baseline_width_state_shapes_and_prior_in_log_weight(smoke_data):
    cfg = smoke_model(False)
    torch.manual_seed(0)
    model = AIR(cfg)
    first = model.baseline.net[0]
    assert (first.in_features, first.out_features) == (cfg.embed + cfg.lstm, cfg.hidden)
    x = model.check_images(smoke_data[1]["test_images"][:6])
    st = model.initial_state(x)
    assert st.h.shape == st.c.shape == (6, cfg.lstm)
    tr = model(x, sample=True, generator=torch.Generator().manual_seed(0))
    n = tr.z_pres.sum(1)
    # log p(n) = n log rho + [n < N] log(1 - rho): the difference between two priors, by hand
    r1, r2 = 0.3, 0.01
    want = n * math.log(r1 / r2) + (n < cfg.max_steps).double() * math.log((1 - r1) / (1 - r2))
    got = model.log_weight(tr, x, r1) - model.log_weight(tr, x, r2)
    torch.testing.assert_close(got.double(), want.double(), rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(model.log_weight(tr, x, None), model.log_weight(tr, x, cfg.pres_prior))


# ------------------------------------------------------------------ runs.py: provenance

def test_git_state_from_the_environment_without_git(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.delenv("AIRLIB_DIRTY", raising=False)
    monkeypatch.delenv("AIRLIB_COMMIT", raising=False)
    assert runs.git_state(tmp_path) == ("unknown", True)
    monkeypatch.setenv("AIRLIB_COMMIT", "abc123")
    assert runs.git_state(tmp_path) == ("abc123", True)               # dirty unless stated clean
    monkeypatch.setenv("AIRLIB_DIRTY", "0")
    assert runs.git_state(tmp_path) == ("abc123", False)
    monkeypatch.setenv("AIRLIB_DIRTY", "1")
    assert runs.git_state(tmp_path) == ("abc123", True)


def _git(cwd, *args):
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false",
                           *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_git_state_of_a_real_repository(tmp_path, monkeypatch):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    monkeypatch.setenv("AIRLIB_COMMIT", "from-the-environment")      # ignored where .git exists
    (tmp_path / "airlib").mkdir()
    (tmp_path / "airlib" / "m.py").write_text("x = 1\n")
    (tmp_path / "README").write_text("r\n")
    _git(tmp_path, "init", "-q")
    assert runs.git_state(tmp_path) == ("unknown", True)             # no commit yet: HEAD names nothing
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "one")
    head = _git(tmp_path, "log", "-1", "--format=%H")
    assert re.fullmatch(r"[0-9a-f]{40}", head)
    assert runs.git_state(tmp_path) == (head, False)
    (tmp_path / "airlib" / "new.py").write_text("")                 # untracked: not a change to the code
    (tmp_path / "README").write_text("changed\n")                   # outside airlib/: not either
    assert runs.git_state(tmp_path) == (head, False)
    (tmp_path / "airlib" / "m.py").write_text("x = 2\n")
    assert runs.git_state(tmp_path) == (head, True)


def test_determinism_and_provenance_fields(monkeypatch):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        det = runs.determinism()
        assert det["threads"] == 1
    finally:
        torch.set_num_threads(before)
    assert set(det) == {"threads", "deterministic_algorithms", "cpu_capability", "cpu_model", "python"}
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), None)
    assert det["cpu_model"] == (model or det["cpu_model"]) and det["cpu_model"]
    assert det["deterministic_algorithms"] is torch.are_deterministic_algorithms_enabled()
    assert isinstance(det["cpu_capability"], str) and det["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert det["python"] == platform.python_version()
    monkeypatch.setattr(runs, "git_state", lambda root=runs.ROOT: ("c0ffee", False))
    prov = runs.provenance(torch.device("cpu"), "python -m airlib train x")
    assert prov == dict(command="python -m airlib train x", commit="c0ffee", dirty=False,
                        device=runs.device_name(torch.device("cpu")), torch=torch.__version__,
                        determinism=runs.determinism(), host=platform.node())
    assert prov["dirty"] is False and prov["device"].startswith("cpu (")


# ------------------------------------------------------------------ runs.py: files

def test_read_metrics_skips_a_partial_line_and_stops_at_up_to(tmp_path):
    path = tmp_path / "metrics.jsonl"
    assert runs.read_metrics(path) == []
    history = [{"step": s, "test_elbo": -s / 2} for s in (0, 50, 100)]
    runs.write_metrics(path, history)
    assert path.read_text().splitlines() == [json.dumps(h) for h in history]
    with open(path, "a") as f:
        f.write('{"step": 150, "test_el')                             # cut short by a kill
    assert runs.read_metrics(path) == history
    assert runs.read_metrics(path, up_to=50) == history[:2]
    assert runs.read_metrics(path, up_to=49) == history[:1]


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    target = tmp_path / "a" / "b" / "record.json"                    # parents made as needed
    obj = {"seed": 3, "history": [{"step": 0}], "name": "x"}
    runs.write_json(target, obj)
    assert json.loads(target.read_text()) == obj
    assert len(target.read_text().splitlines()) > 3                  # indented: records diff line by line
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask            # not mkstemp's 0600
    seen = []

    def failing(tmp):
        seen.append(tmp)
        tmp.write_text("half")
        raise OSError("disk full")
    with pytest.raises(OSError, match="disk full"):
        runs._atomic(target, failing)
    assert json.loads(target.read_text()) == obj                     # the old file survives a failed write
    assert seen[0].parent == target.parent and seen[0].name.startswith(".record.json.")
    assert seen[0].name.endswith(".tmp")

    def vanishing(tmp):                                              # the writer removed its file, then failed
        tmp.unlink()
        raise ValueError("bad value")
    with pytest.raises(ValueError, match="bad value"):
        runs._atomic(target, vanishing)
    assert sorted(p.name for p in target.parent.iterdir()) == ["record.json"]


def test_save_checkpoint_keeps_the_previous_one(tmp_path):
    path = tmp_path / "run" / "checkpoint.pt"
    runs.save_checkpoint(path, {"step": 1, "w": torch.ones(2)})
    assert not path.with_suffix(".prev.pt").exists()
    runs.save_checkpoint(path, {"step": 2, "w": torch.zeros(2)})
    assert torch.load(path, weights_only=True)["step"] == 2
    assert torch.load(path.with_suffix(".prev.pt"), weights_only=True)["step"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.prev.pt", "checkpoint.pt"]


def test_load_checkpoint_warns_on_stderr_and_maps_to_the_device(tmp_path, capsys):
    path = tmp_path / "checkpoint.pt"
    identity = dict(experiment=NAME, profile="smoke", seed=0)
    runs.save_checkpoint(path, {"identity": identity, "w": torch.ones(3)})
    assert runs.load_checkpoint(path, identity, torch.device("meta"))["w"].device.type == "meta"
    runs.save_checkpoint(path, {"identity": identity, "w": torch.ones(3)})   # previous one kept
    path.write_bytes(b"not a checkpoint at all")
    with pytest.raises(Exception) as direct:                          # what torch says of it
        torch.load(path, weights_only=True)
    state = runs.load_checkpoint(path, identity)
    assert torch.equal(state["w"], torch.ones(3))
    out, err = capsys.readouterr()
    assert out == ""
    assert f"warning: {path} is unreadable ({type(direct.value).__name__}: {str(direct.value)[:40]}" in err
    assert "trying the previous one" in err


def test_load_record_names_the_file(tmp_path):
    stem = runs.artifact_stem(NAME, 4, tmp_path)
    assert stem == tmp_path / f"{NAME}-seed4" and stem.with_suffix(".json").name == f"{NAME}-seed4.json"
    assert runs.artifact_stem(NAME, 4) == runs.ARTIFACTS / f"{NAME}-seed4"
    with pytest.raises(ArtifactError, match="no record"):
        runs.load_record(stem)
    stem.with_suffix(".json").write_text('{"seed": 4,')
    with pytest.raises(ArtifactError, match=re.escape(f"{stem.with_suffix('.json')} is not valid JSON")):
        runs.load_record(stem)
    stem.with_suffix(".json").write_text(json.dumps({"seed": 4, "command": "python -m airlib train x --seed 4"}))
    with pytest.raises(ArtifactError) as e:
        runs.load_record(stem)
    msg = str(e.value)
    assert str(stem.with_suffix(".json")) in msg and "'experiment'" in msg and "'seed'" not in msg
    assert "python -m airlib train x --seed 4" in msg


def test_promote_the_record_alone(smoke, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(smoke.dir / "model.safetensors", run / "model.safetensors")
    record = json.loads((smoke.dir / "model.json").read_text())
    (run / "model.json").write_text(json.dumps(dict(record, profile="paper")))
    stem = runs.promote(run, directory=tmp_path / "art", weights=False)
    assert stem == tmp_path / "art" / f"{NAME}-seed0"
    assert sorted(p.name for p in stem.parent.iterdir()) == [f"{NAME}-seed0.json"]
    assert "promoted" in json.loads(stem.with_suffix(".json").read_text())


# ------------------------------------------------------------------ train.py: validation

@pytest.mark.parametrize("seed", [True, False, -1, 1.0, "3", None, SEED_BOUND])
def test_check_seed_refuses(seed):
    with pytest.raises(ValueError, match=re.escape(f"seed must be an integer in [0, {SEED_BOUND})")):
        T.check_seed(seed)


def test_check_seed_accepts_up_to_the_bound():
    assert T.check_seed(0) == 0
    assert T.check_seed(SEED_BOUND - 1) == SEED_BOUND - 1


@pytest.mark.parametrize("stop_at", [-1, 2.5, "3"])
def test_train_refuses_a_bad_stop_at(stop_at, tmp_path, smoke_data):
    with pytest.raises(ValueError, match="stop_at must be a non-negative integer"):
        T.train(NAME, "smoke", 0, run_dir=tmp_path, stop_at=stop_at, progress=False, data=smoke_data[1])


def test_time_spent_defaults_to_zero(tmp_path):
    assert T._spent(tmp_path) == 0.0
    (tmp_path / "time.json").write_text("{broken")
    assert T._spent(tmp_path) == 0.0
    (tmp_path / "time.json").write_text('{"seconds": 2.5}')
    assert T._spent(tmp_path) == 2.5


# ------------------------------------------------------------------ train.py: the command line

@pytest.fixture
def fake_train(monkeypatch):
    """Replaces ``train.train`` by one that records its arguments by name and returns a small record."""
    calls = []
    signature = inspect.signature(T.train)
    record = dict(experiment=NAME, seed=3, steps=7, finished=False, wall_time_s=1.5, device="cpu (x)",
                  metrics={}, profile="smoke", history=[])

    def fake(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        calls.append(dict(bound.arguments))
        return T.Run(None, record, {})
    monkeypatch.setattr(T, "train", fake)
    return calls, record


def test_the_command_line_passes_every_option_on(fake_train, capsys):
    calls, record = fake_train
    argv = [NAME, "--profile", "smoke", "--seed", "3", "--run-dir", "d", "--stop-at", "7", "--device", "cuda",
            "--threads", "2", "--set", "train.lr=0.0005", "--set", "train.snapshots=[0, 10]",
            "--set", 'model.note="a=b"', "--no-progress"]
    assert T.main(argv) == 0
    (got,) = calls
    assert got == dict(name=NAME, profile="smoke", seed=3, run_dir="d", stop_at=7, progress=False, device="cuda",
                       overrides={"train.lr": 0.0005, "train.snapshots": [0, 10], "model.note": "a=b"},
                       threads=2, data=None, command="python -m airlib train " + " ".join(
                           [a for a in argv if a not in ("--run-dir", "d", "--stop-at", "7", "--no-progress")]))
    printed = json.loads(capsys.readouterr().out)
    assert printed == {k: record[k] for k in ("experiment", "seed", "steps", "finished", "wall_time_s", "device",
                                              "metrics")}


def test_the_command_line_defaults(fake_train):
    calls, _ = fake_train
    T.main([NAME])
    (got,) = calls
    assert {k: got[k] for k in ("profile", "seed", "run_dir", "stop_at", "progress", "device", "overrides",
                                "threads")} == dict(profile="paper", seed=0, run_dir=None, stop_at=None,
                                                    progress=True, device="cpu", overrides=None, threads=1)
    assert got["command"] == f"python -m airlib train {NAME}"


def test_the_command_line_refuses_an_unknown_experiment(fake_train, capsys):
    calls, _ = fake_train
    with pytest.raises(SystemExit) as e:
        T.main(["no-such-experiment", "--profile", "smoke"])
    assert e.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert calls == []


# ------------------------------------------------------------------ train.py: the loop

class _Stop(Exception):
    pass


def _dry_run(monkeypatch, small, seed=4, **kwargs):
    """Runs ``train`` up to its checkpoint lookup; returns what it asked of the run layer."""
    seen = {}

    def prov(device, command):
        seen.update(prov_device=device, command=command)
        return {}

    def load(path, identity, device="cpu", extendable=False, schedules=()):
        seen.update(path=Path(path), identity=identity, device=device, extendable=extendable)
        raise _Stop
    monkeypatch.setattr(runs, "provenance", prov)
    monkeypatch.setattr(runs, "load_checkpoint", load)
    with pytest.raises(_Stop):
        T.train(NAME, "smoke", seed, progress=False, data=small, **kwargs)
    return seen


def test_default_run_folder_command_and_device(monkeypatch, tmp_path, smoke_data):
    monkeypatch.setattr(runs, "RUNS", tmp_path)
    small = smoke_data[1]
    plain = _dry_run(monkeypatch, small)
    assert plain["path"] == tmp_path / f"{NAME}-smoke-seed4" / "checkpoint.pt"
    assert plain["command"] == f"python -m airlib train {NAME} --profile smoke --seed 4"
    assert plain["device"] == torch.device("cpu") == plain["prov_device"]
    assert plain["extendable"] is False                  # air-multi-mnist's learning rate schedule reads steps
    a = _dry_run(monkeypatch, small, overrides={"train.lr": 1e-4, "train.clip": 5.0})
    b = _dry_run(monkeypatch, small, overrides={"train.clip": 5.0, "train.lr": 1e-4})
    c = _dry_run(monkeypatch, small, overrides={"train.clip": 5.0, "train.lr": 2e-4})
    assert re.fullmatch(rf"{NAME}-smoke-seed4-[0-9a-f]{{8}}", a["path"].parent.name)
    assert a["path"] == b["path"] != c["path"]                       # the order of --set does not matter
    assert a["identity"]["train_config"]["lr"] == 1e-4 and a["identity"]["train_config"]["clip"] == 5.0


def test_a_stopped_run_records_no_metrics_and_saves_once(monkeypatch, tmp_path, smoke_data):
    saves = []
    orig = runs.save_checkpoint
    monkeypatch.setattr(runs, "save_checkpoint", lambda path, state: saves.append(state["step"]) or orig(path, state))
    overrides = {"train.checkpoint_seconds": 1e9, "train.eval_images": 20}
    run = T.train(NAME, "smoke", 0, run_dir=tmp_path, stop_at=60, progress=False, overrides=overrides,
                  data=smoke_data[1])
    assert saves == [60]                                             # only at the end: 1e9 s never pass
    rec = run.record
    assert rec["overrides"] == overrides and rec["train_config"]["checkpoint_seconds"] == 1e9
    assert (rec["steps"], rec["finished"], rec["metrics"], rec["weights_sha256"]) == (60, False, {}, "")
    assert [h["step"] for h in rec["history"]] == [0, 50]
    assert not (tmp_path / "model.safetensors").exists()


def test_default_profile_is_paper_and_stop_at_zero_is_allowed(tmp_path, smoke_data, capsys):
    run = T.train(NAME, seed=0, run_dir=tmp_path, stop_at=0, data=smoke_data[1])   # default progress bar
    err = capsys.readouterr().err
    assert f"{NAME}:" in err and "0/10000" in err                     # the bar: named, out of the paper's steps
    rec = run.record
    assert rec["profile"] == "paper" and rec["model_config"] == as_dict(experiments.config(NAME, "paper")[0])
    assert (rec["steps"], rec["finished"], rec["metrics"]) == (0, False, {})
    (first,) = rec["history"]
    assert first["step"] == 0 and first["step_time"] is None          # no step timed yet
    assert set(run.figures) == {f"snapshot.0.{k}" for k in ("reconstruction", "z_where", "z_pres")}


def test_smoke_run_history_running_means_and_timing(smoke):
    rec = smoke.model.record
    hist = rec["history"]
    assert [h["step"] for h in hist] == list(range(0, 151, 50))
    assert hist[0]["step_time"] is None
    losses = smoke.calls["loss"]
    assert [s for s, _, _ in losses] == list(range(150))
    assert all(isinstance(g, torch.Generator) for _, g, _ in losses)   # samples from the run's seeded generator
    for prev, h in itertools.pairwise(hist):
        window = [info for s, _, info in losses if prev["step"] <= s < h["step"]]
        assert len(window) == 50
        for key in ("elbo", "count_acc"):
            assert h[f"train_{key}"] == pytest.approx(sum(i[key] for i in window) / 50, rel=1e-9, abs=1e-12)
        assert h["step_time"] > 0
        assert h["step_time"] * 50 == pytest.approx(h["train_time"] - prev["train_time"], rel=1e-6)
    assert rec["train_time_s"] >= hist[-1]["train_time"] > 0
    assert rec["wall_time_s"] >= rec["train_time_s"]


def test_smoke_run_files_checkpoints_and_fp16_weights(smoke):
    from safetensors.torch import load_file
    d = smoke.dir
    assert smoke.calls["mkdtemp"] == [f"airlib-{NAME}-"]
    assert smoke.calls["saves"] == list(range(0, 151, 50))             # checkpoint_seconds = 0: every log step
    assert torch.load(d / "checkpoint.pt", weights_only=False)["step"] == 150     # our own file: trusted
    assert torch.load(d / "checkpoint.prev.pt", weights_only=False)["step"] == 100
    assert not [p.name for p in d.iterdir() if p.name.endswith(".tmp")]
    tensors = load_file(str(d / "model.safetensors"))
    weights = {k: v for k, v in tensors.items() if k.startswith("model.")}
    assert set(weights) == {f"model.{k}" for k in smoke.model.state_dict()}
    assert all(v.dtype == torch.float16 for v in weights.values() if v.is_floating_point())
    assert set(tensors) - set(weights) == {f"snapshot.{s}.{k}" for s in (0, 50, 150)
                                           for k in ("reconstruction", "z_where", "z_pres")}
    assert tensors["snapshot.150.z_where"].dtype == torch.float32


def test_the_loops_checkpoint_loads_with_weights_only(smoke):
    rec = smoke.model.record
    identity = {k: rec[k] for k in ("experiment", "profile", "seed", "model_config", "train_config", "data_sha256")}
    state = runs.load_checkpoint(smoke.dir / "checkpoint.pt", identity)
    assert state["step"] == 150


def test_smoke_run_final_metrics_use_every_test_image(smoke, smoke_data):
    data, _ = smoke_data
    rec = smoke.model.record
    assert rec["metrics"]["test_images"] == len(data["test_images"]) == 500
    assert rec["metrics"]["pres_prior"] == pytest.approx(1e-7, rel=1e-12)
    again = experiments.get(NAME).evaluate(smoke.model, data, SMOKE, 150, final=True)
    assert again["test_count_accuracy"] == rec["metrics"]["test_count_accuracy"]
    assert rec["overrides"] == {} and rec["weights_sha256"] == runs.file_sha256(smoke.dir / "model.safetensors")


# ------------------------------------------------------------------ pretrained.py

def test_load_or_train_of_smoke_returns_the_trained_model(smoke):
    m = smoke.model
    assert isinstance(m, AIR) and not m.training
    assert m.record == json.loads((smoke.dir / "model.json").read_text())
    assert m.record["profile"] == "smoke" and m.record["experiment"] == NAME and m.record["finished"]
    assert set(m.figures) == {f"snapshot.{s}.{k}" for s in (0, 50, 150)
                              for k in ("reconstruction", "z_where", "z_pres")}


def test_check_record_lists_the_problems(smoke):
    rec = smoke.model.record
    assert pretrained.check_record(NAME, rec) == []
    assert pretrained.check_record(NAME, dict(rec, overrides={"train.lr": 1e-4})) == [
        "it was trained with overrides {'train.lr': 0.0001}"]
    assert pretrained.check_record(NAME, dict(rec, finished=False)) == ["the run is unfinished"]
    other_data = dict(rec, data_sha256={"test_images": "0" * 64})
    assert [p for p in pretrained.check_record(NAME, other_data) if "data_sha256 differs" in p]   # checked by default
    assert pretrained.check_record(NAME, other_data, data=False) == []
    no_profile = {k: v for k, v in rec.items() if k != "profile"}   # checked against the paper profile
    problems = pretrained.check_record(NAME, no_profile, data=False)
    assert [p.split(" (")[0] for p in problems] == ["its model_config differs from today's",
                                                    "its train_config differs from today's"]
    paper_steps = experiments.config(NAME, "paper")[1].steps
    assert f"steps: {rec['train_config']['steps']} -> {paper_steps}" in problems[1]       # names the field


def test_a_field_added_later_with_its_default_leaves_records_valid(smoke):
    """A record lacking a field passes when today's value is the field's default, and fails otherwise."""
    rec = smoke.model.record
    model_cfg, train_cfg = experiments.config(NAME, "smoke")
    older = dict(rec, train_config={k: v for k, v in rec["train_config"].items() if k != "clip"})
    default = next(f.default for f in dataclasses.fields(train_cfg) if f.name == "clip")
    assert train_cfg.clip == default and pretrained.check_record(NAME, older, data=False) == []
    changed = dataclasses.replace(train_cfg, clip=(default or 1.0) * 2)
    assert pretrained.config_changes(older["train_config"], changed) == [f"clip: (absent) -> {changed.clip}"]
    assert pretrained.config_changes(rec["train_config"], changed) == [f"clip: {default} -> {changed.clip}"]
    extra = dict(rec["train_config"], gone=1)                                             # a field removed since
    assert pretrained.config_changes(extra, train_cfg) == ["gone: 1 -> (absent)"]


def test_seed_records_of_a_run_made_now():
    assert pretrained.seed_records(NAME, "smoke") == {}
    fallback = {"seed": 7, "profile": "smoke"}
    assert pretrained.seed_records(NAME, "smoke", fallback) == {7: fallback}


FAKE_DATA = {"test_images": "1" * 64}


def _paper_record(seed, **changes):
    model_cfg, train_cfg = experiments.config(NAME, "paper")
    rec = {k: None for k in runs.RECORD_KEYS}
    rec.update(experiment=NAME, profile="paper", seed=seed, model_config=as_dict(model_cfg),
               train_config=as_dict(train_cfg), command=f"python -m airlib train {NAME} --profile paper --seed {seed}",
               finished=True, steps=train_cfg.steps, history=[], metrics={"test_count_accuracy": 0.99},
               data_sha256=FAKE_DATA, overrides={}, weights_sha256="")
    rec.update(changes)
    return rec


def test_seed_records_of_the_paper_profile_reads_every_seed(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "todays_data_sha256", lambda name, profile: FAKE_DATA)
    for s in (3, 0):
        runs.write_json(runs.artifact_stem(NAME, s, tmp_path).with_suffix(".json"), _paper_record(s))
    got = pretrained.seed_records(NAME, "paper", directory=tmp_path)
    assert list(got) == [0, 3] and got[3] == _paper_record(3)
    assert pretrained.seed_records(NAME, "paper", fallback={"seed": 9}, directory=tmp_path / "empty") == {}
    runs.write_json(runs.artifact_stem(NAME, 5, tmp_path).with_suffix(".json"), _paper_record(5, finished=False))
    with pytest.raises(ArtifactError, match=f"{NAME}-seed5: the run is unfinished"):
        pretrained.seed_records(NAME, "paper", directory=tmp_path)


def test_load_or_train_of_paper_loads_the_committed_model(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "todays_data_sha256", lambda name, profile: FAKE_DATA)

    def no_training(*args, **kwargs):
        raise AssertionError("the paper profile must load, not train")
    monkeypatch.setattr(T, "train", no_training)
    with pytest.raises(ArtifactError) as e:
        pretrained.load_or_train(NAME, "paper", 7, directory=tmp_path)
    assert f"no trained artifact {NAME}-seed7" in str(e.value)
    assert f"python -m airlib train {NAME} --profile paper --seed 7" in str(e.value)
    model_cfg = experiments.config(NAME, "paper")[0]
    torch.manual_seed(123)
    state = {f"model.{k}": v.half() for k, v in AIR(model_cfg).state_dict().items()}
    figure = {"snapshot.0.z_pres": torch.ones(8, 3)}
    stem = runs.artifact_stem(NAME, 0, tmp_path)
    saved = runs.save_artifact(stem, state | figure, _paper_record(0))
    model = pretrained.load_or_train(NAME, "paper", 0, directory=tmp_path)
    assert not model.training and model.record == saved
    assert set(model.figures) == set(figure)
    assert torch.equal(model.figures["snapshot.0.z_pres"], figure["snapshot.0.z_pres"])
    own = model.state_dict()
    assert all(torch.equal(own[k[len("model."):]], v.float()) for k, v in state.items())

    bad = dict(state)
    dropped = min(bad)
    del bad[dropped]
    bad["model.extra"] = torch.zeros(1)
    runs.save_artifact(stem, bad, _paper_record(0))
    with pytest.raises(ArtifactError) as e:
        pretrained.load_pretrained(NAME, 0, directory=tmp_path)
    msg = str(e.value)
    assert f"{NAME}-seed0.safetensors holds other weights" in msg
    assert repr(dropped[len("model."):]) in msg and "'extra'" in msg


def test_a_shown_command_drops_the_run_folder_of_the_machine_that_trained():
    from airlib.runs import shown_command
    cmd = "python -m airlib train air-multi-mnist --profile paper --seed 0 --run-dir /work/main/runs/reproduce/x --no-progress"
    assert shown_command({"command": cmd}) == "python -m airlib train air-multi-mnist --profile paper --seed 0 --no-progress"
    assert shown_command({"command": "python -m airlib train a --run-dir=/tmp/r"}) == "python -m airlib train a"
    assert shown_command({"command": "python -m airlib evaluate tabletop-results"}) == \
        "python -m airlib evaluate tabletop-results"
