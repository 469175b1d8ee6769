"""Chapters 3 and 4: the count-set splits, the two-digit tasks' labels, AIR's slot-order-free code and heads,
early stopping, standardisation, the probe's matching, digit coverage."""
import numpy as np
import pytest
import torch

from airlib.data import exact_count_set, multi_mnist_splits
from airlib.experiments import get
from airlib.experiments.multi_mnist import digit_coverage
import airlib.representations as reps
from airlib.representations import (CLASSES, CNN, MLP, DigitHead, PooledCNN, SortedObjectHead, Standard, StudyConfig,
                                    SymmetricObjectHead, air_code, check_every, grid, make_head, prepare, sort_objects,
                                    steps_for, study_config, two_digit_labels)
from airlib.digit_probe import assignment, digit_probe, match_digits


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


def air_objects_like(m=6, n=3, z=5, seed=0):
    """Random AIR objects ``[z_pres, s, x, y, z_what]`` (M, N, 4 + Z): every count from 0 to N."""
    gen = torch.Generator().manual_seed(seed)
    objects = torch.randn(m, n, 4 + z, generator=gen)
    objects[..., 0] = (torch.arange(n) < torch.arange(m)[:, None] % (n + 1)).float()   # a prefix of slots present
    return objects


@pytest.mark.parametrize("kind", ["symmetric", "sorted", "mlp", "digits"])
def test_air_heads_ignore_the_order_of_the_slots(kind):
    objects = air_objects_like()
    stats = Standard.of(objects[..., 1:][objects[..., 0] > 0])
    torch.manual_seed(0)
    head = make_head(kind, objects[0].numel(), "sum", 8, 2)
    logits = head(air_code(objects, stats))
    for perm in ([1, 0, 2], [2, 1, 0], [2, 0, 1]):
        torch.testing.assert_close(head(air_code(objects[:, perm], stats)), logits)
    changed = objects.clone()
    changed[..., 1:] += 10 * (changed[..., :1] == 0)                # what an absent slot holds cannot matter
    torch.testing.assert_close(head(air_code(changed, stats)), logits)
    assert not torch.allclose(head(air_code(objects.roll(1, 0), stats)), logits)   # but the objects do


def test_the_symmetric_head_sums_objects_without_sorting_them():
    # invariant by construction, not through air_code's sorting: permute the slots of an unsorted code
    objects = air_objects_like()
    torch.manual_seed(0)
    head = SymmetricObjectHead(9, 3, 19, 8, 1)
    code = objects * objects[..., :1]
    for perm in ([1, 0, 2], [2, 1, 0]):
        torch.testing.assert_close(head(code[:, perm].flatten(1)), head(code.flatten(1)))
    # rho(sum over the present objects of phi(object)), one image at a time; no objects: rho(0)
    for image in code:
        total = sum((head.object(o) for o in image if o[0] > 0), torch.zeros(8))
        torch.testing.assert_close(head(image.flatten()[None])[0], head.out(total))


def test_standardisation_takes_the_pools_statistics():
    gen = torch.Generator().manual_seed(0)
    parts = {"pool": 3 + 2 * torch.randn(500, 4, generator=gen), "valid": torch.randn(50, 4, generator=gen) - 7}
    out = prepare("CAE", parts)
    torch.testing.assert_close(out["pool"].mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(out["pool"].std(0), torch.ones(4))
    mean, sd = parts["pool"].mean(0), parts["pool"].std(0)
    torch.testing.assert_close(out["valid"], (parts["valid"] - mean) / sd)           # the pool's, not its own
    assert prepare("pixels", parts) is parts
    # AIR: z_where and z_what by the pool's present objects, every slot pooled; z_pres stays 0 or 1
    objects = {"pool": air_objects_like(300), "valid": air_objects_like(30, seed=1) * 5}
    code = prepare("AIR", objects)
    present = objects["pool"][..., 0] > 0
    stats = objects["pool"][..., 1:][present]
    pool = code["pool"].view(300, 3, 9)
    assert set(pool[..., 0].unique().tolist()) == {0.0, 1.0}
    on = pool[..., 1:][pool[..., 0] > 0]
    torch.testing.assert_close(on.mean(0), torch.zeros(8), atol=1e-5, rtol=0)
    torch.testing.assert_close(on.std(0), torch.ones(8))
    torch.testing.assert_close(code["valid"], air_code(objects["valid"], Standard(stats.mean(0), stats.std(0))))


def test_early_stopping_returns_the_best_validation_state(monkeypatch):
    # 100 labels, a fifth of them flipped, and a wide net: validation accuracy rises, then training on overfits
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(10, generator=gen)
    x, xv = torch.randn(100, 10, generator=gen), torch.randn(500, 10, generator=gen)
    y, yv = (x @ w > 0).long(), (xv @ w > 0).long()
    y = torch.where(torch.rand(100, generator=gen) < 0.2, 1 - y, y)
    cfg = StudyConfig(batch=100, lr=1e-3, epochs=1, min_steps=3000, max_steps=3000, eval_every=5, patience=100)
    checks = []
    scored = reps.evaluate
    monkeypatch.setattr(reps, "evaluate", lambda *a: checks.append(scored(*a)) or checks[-1])
    torch.manual_seed(0)
    f = reps.fit(x, y, MLP(10, 2, 256, 2), cfg, 0, (xv, yv))
    best = max(checks, key=lambda c: (c[0], -c[1]))
    assert f.stopped == "patience" and f.steps < 3000
    assert len(checks) == f.steps // 5 and f.steps - f.step == cfg.patience          # patience counts steps
    assert [c[1] for c in f.curve] == [c[0] for c in checks] and [c[0] for c in f.curve] == list(range(5, f.steps + 1, 5))
    assert (f.valid_accuracy, f.valid_loss) == best == checks[f.step // 5 - 1]
    assert checks[0][0] < best[0] and checks[-1][0] < best[0] - 0.05     # neither the first nor the last ...
    assert scored(f.head, xv, yv) == best                                # ... but the best state is returned


def test_a_fit_stops_at_its_budget_and_says_so():
    x, y = torch.randn(10, 3), torch.arange(10) % 2
    cfg = StudyConfig(batch=64, epochs=1, min_steps=7, max_steps=7, eval_every=5, patience=100)
    f = reps.fit(x, y, MLP(3, 2, 4, 1), cfg, 0, (x, y))
    assert (f.steps, f.stopped) == (7, "budget")                     # checks at steps 5 and 7


def test_heads_steps_and_grid():
    cfg = study_config("paper")
    assert steps_for(10, cfg) == cfg.min_steps and steps_for(10 ** 6, cfg) == cfg.max_steps
    assert steps_for(6400, cfg) == cfg.epochs * 100 and cfg.min_steps < cfg.epochs * 100 < cfg.max_steps
    assert check_every(10, cfg) == cfg.eval_every and check_every(10000, cfg) == 157     # at least one pass
    x = torch.randn(4, 3 * 54)
    for kind, cls in (("sorted", SortedObjectHead), ("symmetric", SymmetricObjectHead), ("mlp", MLP),
                      ("digits", DigitHead)):
        head = make_head(kind, 162, "sum", 16, 1)
        assert isinstance(head, cls) and head(x).shape == (4, 19)
    assert make_head("digits", 162, "ascending", 16, 1)(x).shape == (4, 2)
    for kind, cls in (("cnn", CNN), ("pooled", PooledCNN)):
        for depth in (1, 2, 3):
            head = make_head(kind, 0, "ascending", 4, depth)
            assert isinstance(head, cls) and head(torch.rand(4, 50, 50)).shape == (4, 2)
    with pytest.raises(ValueError, match="unknown head 'transformer'"):
        make_head("transformer", 162, "sum", 16, 1)
    with pytest.raises(ValueError, match="unknown task 'product'"):
        make_head("mlp", 162, "product", 16, 1)
    assert {h.kind for h in grid(cfg, "AIR")} == set(cfg.air_heads) and {h.kind for h in grid(cfg, "CAE")} == {"mlp"}
    assert {h.kind for h in grid(cfg, "pixels")} == {"cnn", "pooled"}
    assert len(grid(cfg, "DRAW")) == len(cfg.widths) * len(cfg.depths) * len(cfg.weight_decays)
    assert len({len(grid(cfg, rep)) for rep in ("AIR", "CAE", "DRAW", "pixels")}) == 1     # grids of one size


def digit_code(probs: torch.Tensor, present: torch.Tensor) -> tuple[DigitHead, torch.Tensor]:
    """A digit head whose object network returns the log of the given per-object distributions (B, N, 10): each
    object's z_what holds them, and the network is the identity on that part."""
    b, n, _ = probs.shape
    head = DigitHead(4 + 10, n, "sum", 8, 0)
    with torch.no_grad():
        head.object[0].weight.zero_()
        head.object[0].weight[:, 3:] = torch.eye(10)
        head.object[0].bias.zero_()
    code = torch.cat([present[..., None], torch.zeros(b, n, 3), probs.log()], -1)
    return head, code.flatten(1)


def test_the_digit_head_sums_and_orders_digits_as_exact_enumeration_does():
    """Against enumeration over every assignment of digits to the objects: p(sum = s) is the total probability of
    the assignments whose digits add to s (an absent object is 0), p(ascending) that of d_1 <= d_2."""
    gen = torch.Generator().manual_seed(0)
    probs = (3 * torch.rand(5, 3, 10, generator=gen)).softmax(-1)
    present = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 0, 0], [0, 0, 0], [1, 1, 0]]).float()
    head, code = digit_code(probs, present)
    torch.testing.assert_close(head.digit_probs(code)[present > 0], probs[present > 0])
    out = head(code).exp()
    up = DigitHead(14, 3, "ascending", 8, 0)
    up.load_state_dict(head.state_dict())
    asc = up(code).exp()
    import itertools
    for i in range(5):
        p = [probs[i, k] if present[i, k] else torch.eye(10)[0] for k in range(3)]
        total, ordered = torch.zeros(28), 0.0
        for a, b, c in itertools.product(range(10), repeat=3):
            w = p[0][a] * p[1][b] * p[2][c]
            total[a + b + c] += w
            ordered += w * (a <= b)
        torch.testing.assert_close(out[i], total[:19], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(asc[i], torch.stack([1 - ordered, ordered]), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="unknown task"):
        DigitHead(14, 3, "difference", 8, 0)


def test_run_study_records_every_fit_and_hands_over_each_representation_as_it_finishes():
    gen = torch.Generator().manual_seed(0)
    parts = {p: torch.randn(m, 6, generator=gen) for p, m in (("pool", 40), ("valid", 20), ("test", 20))}
    targets = {p: {"sum": torch.randint(19, (len(x),), generator=gen), "ascending": (x[:, 0] > 0).long()}
               for p, x in parts.items()}
    cfg = StudyConfig(label_counts=(10, 40), seeds=(0, 1), widths=(8, 1), depths=(1,), weight_decays=(1e-4, 1.0),
                      epochs=2, min_steps=4, max_steps=8, eval_every=2, patience=4)
    handed = []
    other = {p: x.flip(1) for p, x in parts.items()}                 # a second code of the same images
    out = reps.run_study({"CAE": [parts, other], "DRAW": [parts]}, targets, cfg,
                         done=lambda rep, res: handed.append((rep, res)))
    assert [rep for rep, _ in handed] == ["CAE", "DRAW"] and all(res is out[rep] for rep, res in handed)
    for task in ("sum", "ascending"):
        r = out["CAE"][task]
        assert r["n"] == [10, 40] and r["grid"] == [["mlp", w, 1, wd] for w in (8, 1) for wd in (1e-4, 1.0)]
        assert r["codes"] == 2 and out["DRAW"][task]["codes"] == 1
        assert np.array(r["accuracy"]).shape == (2, 4) and np.array(r["tried"]).shape == (2, 4)   # 2 codes x 2 seeds
        assert np.array(out["DRAW"][task]["accuracy"]).shape == (2, 2)
        assert len(r["curve"]) == 2 and all(step > 0 and 0 <= acc <= 1 for c in r["curve"] for step, acc in c)
        assert all(s in ("patience", "budget") for row in r["stopped"] for s in row)
        for i, chosen in enumerate(r["chosen"]):            # the head kept is the grid's best on validation
            assert r["tried"][i][r["grid"].index(chosen)] == max(r["tried"][i]) == r["valid"][i][0]
        assert r["chosen"] != [r["grid"][-1]] * 2               # (which here is not the last one tried)


def windows(*centres):
    """AIR objects present at the given pixel centres ``(x, y)`` (None: an absent slot), z_what = slot index."""
    objects = torch.zeros(1, len(centres), 4 + 2)
    for i, c in enumerate(centres):
        if c is not None:
            objects[0, i, :4] = torch.tensor([1.0, 2.0, c[0] / 25 - 1, c[1] / 25 - 1])
        objects[0, i, 4:] = i
    return objects


@pytest.mark.parametrize("centres, matched", [
    (((40, 10), (10, 10), None), [1, 0]),          # the slots in the other order than the digits
    (((10, 10), None, None), [0, -1]),             # one object: the second digit was missed
    (((10, 10), (45, 45), (39, 11)), [0, 2]),      # the object in the corner found no digit
    (((10, 10), (12, 10), None), [0, -1]),         # two windows on one digit: one of them is paired, the
    (((12, 10), (10, 10), None), [1, -1]),         # nearer one, and the far digit is not inside the other
    (((30, 10), (40, 10), None), [-1, 1]),         # the second window sits inside its digit, the first in none
    (((10, 10), (10, 40), (40, 10)), [0, 2]),
])
def test_match_digits_on_hand_built_cases(centres, matched):
    boxes = torch.tensor([[box(0, 0), box(0, 30)]])                 # ink centres (10, 10) and (40, 10)
    objects = windows(*centres)
    if len(centres) == 3 and centres[2] is None:
        objects[0, 2, 2:4] = torch.tensor([10 / 25 - 1, 10 / 25 - 1])   # an absent slot on a digit is not a match
    assert match_digits(objects, boxes).tolist() == [matched]


def test_assignment_minimises_the_summed_cost():
    cost = np.array([[1.0, 0.0, 5.0], [0.0, 2.0, 5.0]])
    assert sorted(assignment(cost)) == [(0, 1), (1, 0)]
    assert sorted(assignment(cost.T)) == [(0, 1), (1, 0)]
    assert assignment(np.zeros((0, 2))) == []


def test_the_probe_reads_the_class_from_z_what():
    # z_what holds the class as an angle on a circle (linearly separable) and two of noise; windows on the digits
    gen = torch.Generator().manual_seed(0)
    objects, targets = {}, {}
    for part, m in (("pool", 300), ("valid", 100), ("test", 100)):
        digits = torch.randint(10, (m, 2), generator=gen)
        boxes = torch.tensor([box(0, 0), box(0, 30)]).expand(m, 2, 4)
        o = torch.zeros(m, 3, 4 + 4)
        o[:, :2, 0], o[:, :2, 1] = 1.0, 2.0
        o[:, :2, 2], o[:, :2, 3] = torch.tensor([10 / 25 - 1, 40 / 25 - 1]), 10 / 25 - 1
        angle = digits.float() * 2 * np.pi / 10
        o[:, :2, 4], o[:, :2, 5] = 5 * angle.cos(), 5 * angle.sin()
        o[:, :2, 6:] = torch.randn(m, 2, 2, generator=gen)
        o[: m // 10, 1, 0] = 0                                      # a tenth of the second digits missed
        objects[part], targets[part] = o, {"digits": digits, "boxes": boxes}
    cfg = StudyConfig(batch=64, lr=1e-2, epochs=50, min_steps=200, max_steps=2000, eval_every=20, patience=10)
    out = digit_probe(objects, targets, cfg)
    assert out["matched"] == pytest.approx(0.95) and out["train"] == 600 - 30
    assert out["accuracy"] > 0.95 and out["accuracy_all"] == pytest.approx(out["accuracy"] * 0.95)


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


def test_order_agreement_reads_the_true_digits_in_the_windows_order():
    """Hand-built: digits 3 (ink centre x = 10) and 7 (x = 40). Windows on both, in either slot order, agree with
    the label "ascending"; the same windows disagree with a label "descending"; an image with one digit missed is
    left out."""
    from airlib.digit_probe import order_agreement
    boxes = torch.tensor([[box(0, 0), box(0, 30)]] * 4)
    objects = torch.cat([windows((10, 10), (40, 10), None), windows((40, 10), (10, 10), None),
                         windows((10, 10), (40, 10), None), windows((10, 10), None, None)])
    targets = {"boxes": boxes, "digits": torch.tensor([[3, 7]] * 4), "ascending": torch.tensor([1, 1, 0, 1])}
    out = order_agreement(objects, targets)
    assert out["found"] == 0.75 and out["agree"] == pytest.approx(2 / 3)
