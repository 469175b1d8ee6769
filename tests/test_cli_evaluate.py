"""``python -m airlib evaluate`` and the runs ``reproduce`` derives from the studies and the committed artifacts."""
from airlib import evaluations, reproduce
from airlib.__main__ import main

# the hand-kept list reproduce used before the runs were derived (2026-12-01): every entry must still be found
HAND_KEPT = (("air-multi-mnist", range(10)), ("dair-multi-mnist", range(10)), ("air-counts-012", (0,)),
             ("dair-counts-012", (0,)), ("air-counts-013", (0, 1, 2)), ("dair-counts-013", (0, 1, 2)),
             ("draw-multi-mnist", (0,)), ("cae-multi-mnist", (0,)), ("3d-air", range(10)), ("3d-supervised", (0,)),
             ("tabletop-air", (0,)), ("tabletop-air-norep", (0,)), ("tabletop-air-camera", (0,)),
             ("tabletop-supervised", (0,)), ("tabletop-supervised-norep", (0,)), ("tabletop-supervised-bytype", (0,)),
             ("tabletop-supervised-bytype-norep", (0,)), ("tabletop-air-perturbed", (0,)), ("tabletop-dair", range(10)),
             ("tabletop-dair-camera", (0,)))


def test_the_derived_runs_are_the_hand_kept_ones_and_every_study_need():
    derived = reproduce.book_runs()
    assert set(derived) >= {(name, s) for name, seeds in HAND_KEPT for s in seeds}
    needs = {(n.experiment, s) for name in evaluations.names() for n in evaluations.get(name).needs for s in n.seeds}
    assert needs <= set(derived)
    assert [s for _, s in derived] == sorted(s for _, s in derived)          # seed-major: seed 0 of everything first
    assert reproduce.book_runs(["3d-air"]) == [("3d-air", s) for s in range(10)]


def test_evaluate_names_an_unknown_study_and_an_option_it_does_not_take(capsys):
    assert main(["evaluate", "no-such-study"]) == 2
    err = capsys.readouterr().err
    assert "unknown evaluation 'no-such-study'" in err and "tabletop-results" in err
    assert main(["evaluate", "3d-results", "--only", "AIR"]) == 2
    assert "3d-results takes no option only" in capsys.readouterr().err
