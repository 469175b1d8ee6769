"""Training numerics pinned (airlib.numerics): each family's short training ends with the committed weights."""
import pytest
import torch

from airlib import experiments, numerics

PINNED = numerics.committed()
SAME_PLATFORM = PINNED.get("platform") == numerics.platform()


@pytest.mark.skipif(not SAME_PLATFORM, reason=f"fingerprints computed on {PINNED.get('platform')}, "
                                              f"this is {numerics.platform()}: other kernels give other bits")
@pytest.mark.parametrize("fam", list(numerics.FAMILIES))
def test_each_family_trains_to_its_committed_weights(fam):
    assert numerics.fingerprint(fam) == PINNED["families"][fam], (
        f"{fam}'s training numerics changed; if meant, run python -m airlib numerics --update and say so in the commit")


def test_a_change_in_the_numerics_changes_the_fingerprint(monkeypatch):
    from airlib.air import AIR
    before = numerics.fingerprint("DAIR")
    loss = AIR.loss
    monkeypatch.setattr(AIR, "loss", lambda self, *a, **k: (lambda out: (out[0] * (1 + 1e-6), out[1]))(loss(self, *a, **k)))
    assert numerics.fingerprint("DAIR") != before          # a millionth of the loss is seen
    monkeypatch.undo()
    assert numerics.fingerprint("DAIR") == before           # and the training is deterministic


def test_a_changed_initialisation_or_data_order_changes_the_fingerprint(monkeypatch):
    from airlib.air import AIR
    from airlib.experiments.multi_mnist import MultiMNISTExperiment
    before = numerics.fingerprint("DAIR")
    init = AIR.__init__

    def nudged(self, *a, **k):                          # one weight of the first layer moved by a millionth
        init(self, *a, **k)
        with torch.no_grad():
            next(self.parameters()).view(-1)[0] += 1e-6
    monkeypatch.setattr(AIR, "__init__", nudged)
    assert numerics.fingerprint("DAIR") != before
    monkeypatch.undo()
    batch = MultiMNISTExperiment.batch
    monkeypatch.setattr(MultiMNISTExperiment, "batch",      # the same batches, two of them swapped
                        lambda self, data, cfg, seed, step: batch(self, data, cfg, seed, {0: 1, 1: 0}.get(step, step)))
    assert numerics.fingerprint("DAIR") != before


def test_every_experiment_has_a_family_and_its_records_state_the_fingerprint(tmp_path):
    assert {n: numerics.family(n) for n in experiments.names() if numerics.family(n) is None} == {}
    assert numerics.family("3d-air-plain") == "3D AIR" and numerics.family("dair-nomemory-counts-013") == "DAIR"
    from airlib.train import train
    run = train("cae-multi-mnist", "smoke", 0, run_dir=tmp_path / "run", stop_at=2, progress=False)
    assert run.record["numerics"] == PINNED["families"]["CAE"]
    with pytest.raises(ValueError, match="unknown family 'GAN'"):
        numerics.fingerprint("GAN")


def test_a_record_of_other_numerics_is_stale():
    now = PINNED["families"]["AIR"]
    assert numerics.stale({"experiment": "air-multi-mnist", "numerics": now}) is False
    assert numerics.stale({"experiment": "air-warmup-multi-mnist", "numerics": "0" * 64}) is True
    assert numerics.stale({"experiment": "air-multi-mnist"}) is None          # trained before fingerprints


def test_weights_digest_reads_every_parameter_at_full_precision():
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    b.load_state_dict(a.state_dict())
    assert numerics.weights_digest(a) == numerics.weights_digest(b)
    with torch.no_grad():
        b.bias[0] += 1e-7                                   # below fp16's resolution, not float32's
    assert numerics.weights_digest(a) != numerics.weights_digest(b)
