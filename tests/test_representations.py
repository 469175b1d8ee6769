"""Chapters 3 and 4: the count-set splits, the two-digit tasks' labels, AIR's slot-order-free code, digit coverage."""
import numpy as np
import pytest
import torch

from airlib.data import exact_count_set, multi_mnist_splits
from airlib.experiments import get
from airlib.experiments.multi_mnist import digit_coverage
from airlib.representations import (CLASSES, ObjectMLP, make_head, sort_objects, steps_for, study_config,
                                    two_digit_labels)


def test_generalization_sets_hold_only_the_unseen_count():
    for name, unseen in (("air-counts-012", 3), ("air-counts-013", 2)):
        exp = get(name)
        train, _ = multi_mnist_splits("smoke", counts=exp.counts)
        probe = exact_count_set("smoke", unseen)
        assert unseen not in set(train.counts.tolist())
        assert set(probe.counts.tolist()) == {unseen}
        assert ((probe.labels >= 0).sum(1) == unseen).all()
    # the interpolation experiment trains on 0, 1 and 3 digits only, and its probe images are test digits
    data = get("air-counts-013").data("smoke")
    assert set(data["train_counts"].tolist()) == {0, 1, 3}
    assert not torch.equal(data["exact2_images"][:50], torch.from_numpy(multi_mnist_splits("smoke", counts=(2,))[1].images[:50]))


def box(top, left):
    """An ink box of a 20x20 digit at (top, left)."""
    return [top, left, top + 20, left + 20]


@pytest.mark.parametrize("labels, boxes, total, ascending", [
    ([3, 5], [box(0, 0), box(0, 25)], 8, 1),      # 3 left of 5: ascending
    ([3, 5], [box(0, 25), box(0, 0)], 8, 0),      # 5 left of 3
    ([7, 7], [box(0, 25), box(0, 0)], 14, 1),     # equal classes count as ascending (non-decreasing)
    ([9, 0], [box(25, 10), box(0, 10)], 9, 1),    # same centre x: the upper digit (0) is read first
    ([0, 9], [box(25, 10), box(0, 10)], 9, 0),
    ([9, 9], [box(0, 0), box(25, 26)], 18, 1),
])
def test_two_digit_labels_on_hand_built_cases(labels, boxes, total, ascending):
    out = two_digit_labels(np.array([labels]), np.array([boxes]))
    assert out["sum"].tolist() == [total] and out["ascending"].tolist() == [ascending]
    assert 0 <= out["sum"].max() < CLASSES["sum"]


def test_two_digit_labels_reject_other_counts():
    with pytest.raises(ValueError, match="two-digit"):
        two_digit_labels(np.array([[3, -1]]), np.zeros((1, 2, 4), dtype=int))


def test_air_code_ignores_slot_order():
    torch.manual_seed(0)
    z_pres = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    z_where = torch.randn(2, 3, 3)
    z_what = torch.randn(2, 3, 5)
    code = sort_objects(z_pres, z_where, z_what)
    for perm in ([1, 0, 2], [2, 1, 0], [0, 2, 1]):
        p = torch.tensor(perm)
        torch.testing.assert_close(sort_objects(z_pres[:, p], z_where[:, p], z_what[:, p]), code)
    objects = code.view(2, 3, 9)
    assert objects[0, 0, 1 + 1] <= objects[0, 1, 1 + 1]             # left to right by x
    assert (objects[1, 1:] == 0).all() and (objects[0, 2] == 0).all()  # absent objects are zero and last


def test_heads_and_steps():
    cfg = study_config("paper")
    assert steps_for(10, cfg) == cfg.min_steps and steps_for(10 ** 6, cfg) == cfg.max_steps
    assert steps_for(3200, cfg) == 500
    x = torch.randn(4, 3 * 54)
    assert make_head("objects", 162, 19, 16, 1)(x).shape == (4, 19)
    assert isinstance(make_head("objects", 162, 19, 16, 1), ObjectMLP)
    assert make_head("cnn", 0, 2, 4, 1)(torch.rand(4, 50, 50)).shape == (4, 2)
    with pytest.raises(ValueError, match="unknown head"):
        make_head("transformer", 162, 19, 16, 1)


def test_digit_coverage():
    images = torch.zeros(1, 10, 10)
    images[0, 0:3, 0:3] = 1.0                                  # digit 1: 9 pixels of ink
    images[0, 5:8, 5:8] = 0.5                                  # digit 2: 4.5 of ink
    recon = torch.zeros(1, 10, 10)
    recon[0, 0:3, 0:3] = 2.0                                   # overdrawn: counts as the ink, not more
    recon[0, 5:8, 5:6] = 0.5                                   # a third of digit 2
    boxes = torch.tensor([[[0, 0, 3, 3], [5, 5, 8, 8], [-1, -1, -1, -1]]])
    cov = digit_coverage(images, recon, boxes)
    torch.testing.assert_close(cov[0, :2], torch.tensor([1.0, 1 / 3]))
    assert torch.isnan(cov[0, 2])


def test_cae_round_trip_shapes_and_errors():
    from airlib.cae import CAE, CAEConfig
    torch.manual_seed(0)
    cae = CAE(CAEConfig(channels=4, code=6))
    x = torch.rand(3, 50, 50)
    code, recon = cae(x)
    assert code.shape == (3, 6) and recon.shape == (3, 50, 50) and 0 <= recon.min() and recon.max() <= 1
    torch.testing.assert_close(cae.encode(x), code)
    torch.testing.assert_close(cae.encode((x * 255).round().to(torch.uint8)), cae.encode((x * 255).round() / 255))
    assert cae.encode(x[:0]).shape == (0, 6)
    with pytest.raises(ValueError, match="shape"):
        cae.encode(torch.rand(3, 28, 28))


@pytest.mark.parametrize("count, error, match", [(1.5, TypeError, "count"), ("2", TypeError, "count"),
                                                 (-1, ValueError, "count"), (5, ValueError, "at most 3")])
def test_exact_count_set_names_a_bad_count(count, error, match):
    with pytest.raises(error, match=match):
        exact_count_set("smoke", count)


def test_eval_mode_restores_the_mode_even_after_an_error():
    from airlib.experiments import eval_mode
    net = torch.nn.Dropout()
    for training in (True, False):
        net.train(training)
        with pytest.raises(RuntimeError), eval_mode(net):
            assert not net.training
            raise RuntimeError("an evaluation that fails")
        assert net.training is training
