"""The table-top experiments through the run layer (smoke profile) and the chapter's scores on hand-made scenes."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from airlib import tabletop_scenes, train
from airlib.experiments import tabletop as T


def _scenes(present, kind, pose, camera):
    return tabletop_scenes.Scenes(np.array(present, bool), np.array(kind), np.array(pose, np.float32), np.array(camera, np.float32))


def test_scores_of_hand_made_scenes():
    truth = _scenes([[1, 1, 0], [1, 0, 0], [0, 0, 0]], [[0, 2, -1], [1, -1, -1], [-1, -1, -1]],
                    [[[0.1, 0.1, 0], [-0.2, 0.0, 1], [0, 0, 0]], [[0.0, 0.2, 0], [0, 0, 0], [0, 0, 0]], np.zeros((3, 3))],
                    [0.0, 10.0, -20.0])
    # scene 0 in another slot order and 0.1 m off on one object; scene 1 the wrong type; scene 2 one object too many
    guess = _scenes([[1, 1, 0], [1, 0, 0], [1, 0, 0]], [[2, 0, -1], [2, -1, -1], [0, -1, -1]],
                    [[[-0.2, 0.1, 1], [0.1, 0.1, 0], [0, 0, 0]], [[0.0, 0.2, 0], [0, 0, 0], [0, 0, 0]], np.zeros((3, 3))],
                    [4.0, 10.0, -20.0])
    images = torch.zeros(3, 3, 128, 128)
    s = T.score(truth, guess, images, images + 0.5)
    assert s["count_accuracy"] == pytest.approx(2 / 3)
    assert s["identity_accuracy"] == pytest.approx(2 / 3)                  # two of the three matched objects
    assert s["position_error"] == pytest.approx((0.0 + 0.1 + 0.0) / 3 / 1.0)  # in table widths (1 m)
    assert s["camera_error_deg"] == pytest.approx(4 / 3)
    assert s["reconstruction_error"] == pytest.approx(0.25)


@pytest.mark.parametrize("name", ["tabletop-air-camera", "tabletop-supervised-norep", "tabletop-air-perturbed", "tabletop-air-sleep", "tabletop-air-wake-sleep-perturbed",
                                  "tabletop-dair-camera"])
def test_a_smoke_run_trains_resumes_bit_for_bit_and_scores(name, tmp_path):
    whole = train.train(name, "smoke", seed=1, run_dir=tmp_path / "whole", progress=False)
    assert whole.record["finished"] and whole.record["steps"] == T.CONFIGS["smoke"].steps
    assert set(whole.record["metrics"]) == {"count_accuracy", "identity_accuracy", "position_error",
                                            "camera_error_deg", "reconstruction_error"}
    train.train(name, "smoke", seed=1, run_dir=tmp_path / "split", stop_at=2, progress=False)
    resumed = train.train(name, "smoke", seed=1, run_dir=tmp_path / "split", progress=False)
    assert resumed.record["weights_sha256"] == whole.record["weights_sha256"]
    assert json.loads((tmp_path / "whole" / "model.json").read_text())["experiment"] == name


def test_a_finished_run_extended_to_more_steps_equals_a_run_started_with_them(tmp_path):
    name, steps = "tabletop-air", T.CONFIGS["smoke"].steps
    whole = train.train(name, "smoke", seed=2, run_dir=tmp_path / "whole", progress=False)
    short = train.train(name, "smoke", seed=2, run_dir=tmp_path / "ext", progress=False,
                        overrides={"train.steps": steps - 2})
    assert short.record["finished"] and short.record["steps"] == steps - 2
    extended = train.train(name, "smoke", seed=2, run_dir=tmp_path / "ext", progress=False)
    assert extended.record["finished"] and extended.record["steps"] == steps
    assert extended.record["weights_sha256"] == whole.record["weights_sha256"]
    assert [h["step"] for h in extended.record["history"]] == [h["step"] for h in whole.record["history"]]
    assert [(e["from_steps"], e["to_steps"]) for e in extended.record["extended"]] == [(steps - 2, steps)]
    assert "extended" not in whole.record
    with pytest.raises(train.runs.RunError, match="train_config"):      # fewer steps: refused, not truncated
        train.train(name, "smoke", seed=2, run_dir=tmp_path / "ext", progress=False, overrides={"train.steps": 1})
    with pytest.raises(train.runs.RunError, match="train_config"):      # more steps and another change: refused
        train.train(name, "smoke", seed=2, run_dir=tmp_path / "ext", progress=False,
                    overrides={"train.steps": steps + 2, "train.lr": 1e-4})


def test_a_finished_run_given_a_later_rate_drop_equals_a_run_started_with_it(tmp_path):
    """A schedule change at steps the checkpoint has not trained continues the run; one before is refused."""
    name, steps = "tabletop-dair", T.CONFIGS["smoke"].steps
    drop = {"train.lr_drops": [[steps - 2, 0.3]]}
    whole = train.train(name, "smoke", seed=3, run_dir=tmp_path / "whole", progress=False, overrides=drop)
    plain = train.train(name, "smoke", seed=3, run_dir=tmp_path / "plain", progress=False)
    assert whole.record["weights_sha256"] != plain.record["weights_sha256"]        # the drop acts
    train.train(name, "smoke", seed=3, run_dir=tmp_path / "ext", progress=False, overrides={"train.steps": steps - 2})
    with pytest.raises(train.runs.RunError, match="train_config"):      # a drop at a step already trained: refused
        train.train(name, "smoke", seed=3, run_dir=tmp_path / "ext", progress=False,
                    overrides={"train.lr_drops": [[steps - 3, 0.3]]})
    extended = train.train(name, "smoke", seed=3, run_dir=tmp_path / "ext", progress=False, overrides=drop)
    assert extended.record["weights_sha256"] == whole.record["weights_sha256"]
    [ext] = extended.record["extended"]
    assert (ext["from_steps"], ext["to_steps"], ext["at_step"]) == (steps - 2, steps, steps - 2)
    assert ext["changed"] == {"lr_drops": [[], [[steps - 2, 0.3]]]}


def test_continues_compares_schedules_only_at_trained_steps():
    base = dict(steps=10, lr=1e-3, lr_drops=[[4, 0.5]])
    assert train.runs.continues(base, {**base, "lr_drops": [[4, 0.5], [10, 0.3]]}, 10, ("lr_drops",))
    assert train.runs.continues(base, {**base, "steps": 12, "lr_drops": [[4, 0.5], [10, 0.3]]}, 10, ("lr_drops",))
    assert not train.runs.continues(base, {**base, "lr_drops": [[4, 0.5], [9, 0.3]]}, 10, ("lr_drops",))
    assert not train.runs.continues(base, {**base, "lr_drops": [[4, 0.5], [10, 0.3]]}, 10)     # not a schedule
    assert train.runs.continues(base, {**base, "lr_drops": []}, 4, ("lr_drops",))      # the drop at 4 never acted
    assert not train.runs.continues(base, {**base, "lr_drops": []}, 5, ("lr_drops",))
    assert not train.runs.continues(base, {**base, "steps": 9}, 9, ("lr_drops",))        # fewer steps
    assert not train.runs.continues(base, {**base, "lr": 1e-4, "steps": 12}, 10, ("lr_drops",))


def test_the_data_sets_differ_as_their_names_say():
    rep, norep, cam = (T.EXPERIMENTS[n].data("paper") for n in ("tabletop-air", "tabletop-air-norep", "tabletop-air-camera"))
    def repeats(d):
        return np.mean([len(set(k[p].tolist())) < p.sum() for k, p in zip(d["test_kind"].numpy(), d["test_present"].numpy())])
    assert repeats(norep) == 0 and repeats(rep) > 0.1
    assert torch.all(rep["test_camera"] == 0) and cam["test_camera"].abs().max() > 30
    assert len(rep["test_present"]) == 1000


def test_a_supervised_guess_at_the_table_edge_renders_and_a_fixed_camera_stays_fixed():
    net = T.SupervisedNet(16)
    with torch.no_grad():
        net.head.bias.fill_(5.0)                            # every slot present, poses pushed onto the edge
    guess = net.infer(torch.rand(2, 3, 128, 128))
    assert np.all(np.abs(guess.pose[..., :2]) <= T.SPEC.placement_half_width + 1e-6) and np.all(guess.camera == 0)
    T.renderer(128).render_batch(*guess)                   # float32 at the edge is on the table


def test_labels_by_type_put_absent_slots_last_and_types_in_order():
    s = tabletop_scenes.sample_scenes(200, np.random.default_rng(4), repeats=True)
    o = T.by_type(s)
    for b in range(200):
        n = int(s.present[b].sum())
        assert o.present[b].tolist() == [True] * n + [False] * (3 - n)
        kinds = o.kind[b, :n].tolist()
        assert kinds == sorted(s.kind[b][s.present[b]].tolist())
        # the same objects, poses travelling with their types
        assert sorted(map(tuple, o.pose[b, :n].round(5).tolist())) == sorted(map(tuple, s.pose[b][s.present[b]].round(5).tolist()))
        for i in range(n):
            j = int(np.flatnonzero((s.pose[b, :, :2] == o.pose[b, i, :2]).all(1))[0])
            assert s.kind[b, j] == o.kind[b, i]


def test_the_supervised_loss_reads_the_order_it_is_given():
    s = tabletop_scenes.sample_scenes(16, np.random.default_rng(2), repeats=True)
    images = torch.zeros(16, 3, 32, 32)
    net = T.SupervisedNet(16)
    data, typed = T.supervised_loss(net, images, s, "data"), T.supervised_loss(net, images, s, "type")
    assert typed.item() == pytest.approx(T.supervised_loss(net, images, T.by_type(s), "data").item())
    assert data.item() != pytest.approx(typed.item())
    with pytest.raises(ValueError, match="unknown label order 'size'"):
        T.supervised_loss(net, images, s, "size")


def test_perturbed_training_sees_the_same_scenes_in_other_colours_and_sizes():
    cfg = T.CONFIGS["smoke"]
    plain, perturbed = T.EXPERIMENTS["tabletop-air"], T.EXPERIMENTS["tabletop-air-perturbed"]
    (s1, x1), (s2, x2) = plain.batch({}, cfg, 0, 3), perturbed.batch({}, cfg, 0, 3)
    assert all(np.array_equal(a, b) for a, b in zip(s1, s2))
    assert s1.present.any() and not torch.equal(x1, x2)
    assert torch.equal(perturbed.batch({}, cfg, 0, 3)[1], x2)            # a function of (seed, step)
    assert torch.equal(plain.data("smoke")["test_pose"], perturbed.data("smoke")["test_pose"])


def test_the_learning_rate_drops_at_the_steps_it_is_told():
    exp = T.Tabletop("tabletop-air", "air", repeats=True, moving_camera=False)
    cfg = T.CONFIGS["paper"]
    assert [exp.lr_scale(cfg, s) for s in (0, 5000, 10**6)] == [1.0, 1.0, 1.0]          # default: constant
    cfg = dataclasses.replace(cfg, lr_drops=((2000, 0.3), (4000, 0.1)))
    assert [exp.lr_scale(cfg, s) for s in (0, 1999, 2000, 3999, 4000, 9999)] == [1.0, 1.0, 0.3, 0.3, 0.1, 0.1]
    with pytest.raises(ValueError, match="steps ascending"):
        exp.lr_scale(dataclasses.replace(cfg, lr_drops=((4000, 0.1), (2000, 0.3))), 0)


def test_checks_during_training_score_the_first_check_scenes_or_all_held_out_scenes_if_fewer():
    assert T.CONFIGS["paper"].check_scenes == T.CHECK_SCENES == 100       # 1,000 held out
    assert T.CONFIGS["smoke"].check_scenes == T.CONFIGS["smoke"].test_scenes == 6
    assert dataclasses.replace(T.CONFIGS["paper"], test_scenes=T.CHECK_SCENES + 1).check_scenes == T.CHECK_SCENES


def test_the_committed_networks_stay_valid_with_the_drops_at_their_default():
    """``lr_drops`` came after the table-top records; at its default (constant rate) they are not stale."""
    from airlib import pretrained
    for name in ("tabletop-air", "tabletop-supervised"):
        record = pretrained.load_record(name, 0, data=False)
        assert "lr_drops" not in record["train_config"] and pretrained.check_record(name, record, data=False) == []


def test_dair_is_air_with_the_error_canvas_and_nothing_else():
    """The DAIR experiments share AIR's data, recipe for AIR's steps, and scores; then, with a fixed camera,
    the rate drops."""
    for air, dair in (("tabletop-air", "tabletop-dair"), ("tabletop-air-norep", "tabletop-dair-norep"),
                      ("tabletop-air-camera", "tabletop-dair-camera")):
        a, d = T.EXPERIMENTS[air], T.EXPERIMENTS[dair]
        ac, dc = a.configs["paper"][1], d.configs["paper"][1]
        assert dataclasses.replace(dc, steps=ac.steps, lr_drops=ac.lr_drops) == ac and d.success == a.success
        assert [d.lr_scale(dc, s) for s in range(0, ac.steps, 250)] == [a.lr_scale(ac, s) for s in range(0, ac.steps, 250)]
        if a.moving_camera:
            assert dc == ac
        else:
            assert d.lr_scale(dc, ac.steps) == 0.3 and dc.steps == ac.steps + 1000
        assert d.configs["paper"][0].difference and not a.configs["paper"][0].difference
        assert all(torch.equal(x, y) for x, y in zip(a.data("smoke").values(), d.data("smoke").values()))
        assert d.build(*d.configs["smoke"]).difference
    with pytest.raises(ValueError, match="unknown method 'bair'"):
        T.Tabletop("x", "bair", True, False)


def test_a_network_started_from_a_committed_one_begins_with_its_weights(tmp_path):
    from airlib import load_pretrained
    exp = T.EXPERIMENTS["tabletop-air-from-sleep"]
    model_cfg, cfg = exp.configs["smoke"]
    assert cfg.start_from == f"{T.SLEEP_START}:0"
    source = load_pretrained(T.SLEEP_START, 0)
    net = exp.build(model_cfg, cfg)
    for k, v in source.state_dict().items():
        assert torch.equal(net.state_dict()[k], v.float()), k
    images = T.renderer(128).render_batch(*T.held_out(exp.data("smoke")).take(slice(4)))
    assert all(np.array_equal(a, b) for a, b in zip(T.air_infer(net, images), T.air_infer(source, images)))
    # the paper's recipe then trains it: its weights move
    run = train.train("tabletop-air-from-sleep", "smoke", 0, run_dir=tmp_path / "run", progress=False)
    assert any(not torch.equal(run.model.state_dict()[k], v.float()) for k, v in source.state_dict().items())
    assert run.record["train_config"]["start_from"] == f"{T.SLEEP_START}:0"


@pytest.mark.parametrize("source, problem", [("tabletop-air-sleep-type", "NAME:SEED"),
                                             ("no-such-net:0", "NAME:SEED"),
                                             ("tabletop-supervised:0", "NAME:SEED"),
                                             ("tabletop-air-sleep-type:0", "cannot start")])
def test_a_start_that_cannot_be_used_is_refused_by_name(source, problem):
    with pytest.raises(ValueError, match=problem):
        T.start_weights(source, T.NetConfig(difference=source.endswith(":0")))
