"""The command line: ``python -m airlib {data,list,train,sweep,promote,evaluate,export,reproduce,book,twins,repository} ...``."""
from __future__ import annotations

import argparse
import sys

from . import __version__
from .profiles import PROFILES


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"]:
        from . import train
        return train.main(argv[1:]) or 0
    args = _parser().parse_args(argv)
    return COMMANDS[args.command](args) or 0


def _parser() -> argparse.ArgumentParser:
    """The command line's parser: one subcommand per entry of ``COMMANDS``."""
    parser = argparse.ArgumentParser(prog="python -m airlib", description=__doc__)
    parser.add_argument("--version", action="version", version=f"airlib {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    lst = sub.add_parser("list", help="every experiment with its committed seeds, metrics and data-hash check")
    lst.add_argument("--no-data", action="store_true", help="skip the data-hash check (it generates the data)")
    promote = sub.add_parser("promote", help="copy finished paper runs into artifacts/ (the only command that writes there)")
    promote.add_argument("run_dirs", nargs="+", help="run folders, e.g. runs/air-multi-mnist-paper-seed0")
    promote.add_argument("--record-only", action="store_true", help="copy the record, not the weights")
    promote.add_argument("--replace", action="store_true", help="allow replacing an existing artifact")
    ev = sub.add_parser("evaluate", help="run a recorded study of trained models (3d-results, representations-results, "
                        "tabletop-results) into runs/NAME-PROFILE")
    ev.add_argument("name", help="the study (python -m airlib list names them)")
    ev.add_argument("--profile", default="paper", choices=PROFILES, help="profile (default: paper)")
    ev.add_argument("--jobs", type=int, default=None, help="fits at once, for studies that have them (default 2)")
    ev.add_argument("--only", nargs="*", help="representations-results: compute only these representations "
                    "(AIR CAE DRAW pixels); a later full run reuses them")
    exp = sub.add_parser("export", help="write a trained AIR, DAIR or table-top AIR's inference network to ONNX and "
                         "check it with onnxruntime on the held-out images or scenes")
    exp.add_argument("name", help="air-multi-mnist, dair-multi-mnist (or another AIR experiment), or a plain table-top "
                     "network such as tabletop-air-sleep-type (not a table-top DAIR)")
    exp.add_argument("--seed", type=int, default=0, help="the committed seed (default 0)")
    exp.add_argument("--out", default="build/onnx", help="output folder (default build/onnx)")
    rep = sub.add_parser("reproduce", help="retrain every artifact the book uses into runs/reproduce, then build the "
                         "book from them (artifacts/ is not touched)")
    which = rep.add_mutually_exclusive_group()
    which.add_argument("--only", nargs="*", help="only these experiments")
    which.add_argument("--chapter", type=int, metavar="K", help="only the runs and studies chapter K's notebook "
                       "reads; then build that chapter alone")
    cut = rep.add_mutually_exclusive_group()
    cut.add_argument("--figures", action="store_true", help="only the seeds whose weights a figure or study draws; "
                     "the tables over seeds read the other seeds' committed records, and each page names them")
    cut.add_argument("--quick", action="store_true", help="one seed per experiment (seed 0), plus the seeds the "
                     "studies need and those whose weights a chapter loads: every figure, fewer seeds in the tables")
    rep.add_argument("--plan", action="store_true", help="run nothing: print each run with its recorded minutes, "
                     "the total core-minutes and the wall time on --jobs cores, the studies and the book's build time")
    rep.add_argument("--jobs", type=int, default=2, help="training jobs at once, one thread each (default 2)")
    rep.add_argument("--no-book", action="store_true", help="train only")
    _backend_options(rep)
    swp = sub.add_parser("sweep", help="run a sweep file (TOML or YAML): an experiment, its seeds and a grid of "
                         "overrides, each job one training run with its record under runs/sweeps/NAME")
    swp.add_argument("spec", help="the sweep file, e.g. sweeps/air-seeds.toml")
    swp.add_argument("--report", action="store_true", help="run nothing: print the success rate and spread over "
                     "seeds per configuration from the finished records")
    swp.add_argument("--jobs", type=int, default=2, help="jobs at once on the local backend, or the CPUs of a "
                     "local Ray cluster (default 2)")
    swp.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="add an override to every job, e.g. --set train.steps=1000 (JSON values)")
    swp.add_argument("--out", default=None, help="the sweep's folder (default runs/sweeps/NAME)")
    _backend_options(swp)
    repo = sub.add_parser("repository", help="print the repository's address (_config.yml) and check its copies "
                          "(README, each chapter's install cell); with URL, write it everywhere")
    repo.add_argument("url", nargs="?", help="the new address, e.g. https://github.com/OWNER/airlib")
    sub.add_parser("data", help="fetch, verify and cache MNIST and the multi-MNIST sets")
    num = sub.add_parser("numerics", help="check each model family's training numerics against the committed "
                         "fingerprints (artifacts/numerics.json)")
    num.add_argument("--update", action="store_true", help="recompute and write the fingerprints (commit them with "
                     "the change that altered the numerics, and say so)")
    book = sub.add_parser("book", help="execute the notebooks with papermill and build the book")
    book.add_argument("--profile", default="paper", choices=PROFILES, help="profile passed to every notebook (default: paper)")
    book.add_argument("--only", nargs="*", help="execute only these notebooks (file names or stems)")
    book.add_argument("--no-check", action="store_true", help="skip the headless-browser check of the built book")
    book.add_argument("--chapter", type=int, help="build the landing page and this chapter alone (both executed now)")
    sub.add_parser("train", help="train an experiment: python -m airlib train <experiment> --profile P --seed S")
    smoke = sub.add_parser("smoke-notebooks", help="write every notebook as .ipynb with profile=smoke, for nbval")
    smoke.add_argument("out", help="output folder")
    twins = sub.add_parser("twins", help="write the notebooks/NN_*.ipynb twins of the .py chapters (Binder, Colab)")
    twins.add_argument("--check", action="store_true", help="write nothing; fail if a twin is missing or stale")
    return parser


def _numerics(args) -> int:
    from . import numerics
    if args.update:
        data = numerics.update()
        print(f"wrote {numerics.FILE.relative_to(numerics.runs.ROOT)}: {len(data['families'])} families on "
              f"{data['platform']}")
        return 0
    pinned, changed = numerics.committed(), []
    for fam in numerics.FAMILIES:
        now, then = numerics.fingerprint(fam), pinned.get("families", {}).get(fam)
        same = now == then
        changed += [] if same else [fam]
        was = (then or "none")[:12]
        print(f"{fam}: " + ("as committed" if same else f"CHANGED ({was} -> {now[:12]})"))
    if changed and pinned.get("platform") != numerics.platform():
        print(f"the fingerprints were computed on {pinned.get('platform')}, this is {numerics.platform()}")
    return 1 if changed else 0


def _list(args) -> int:
    from .reproduce import list_experiments
    return list_experiments(check_data=not args.no_data)


def _promote(args) -> int:
    from . import runs
    for run_dir in args.run_dirs:
        try:
            stem = runs.promote(run_dir, weights=not args.record_only, replace=args.replace)
        except runs.ArtifactError as e:
            print(f"promote: {e}", file=sys.stderr)
            return 1
        print(f"promoted {run_dir} -> {stem.relative_to(runs.ROOT) if stem.is_relative_to(runs.ROOT) else stem}")
    return 0


def _export(args) -> int:
    from . import runs
    from .export import export
    try:
        path, result = export(args.name, args.seed, args.out)
    except (ValueError, runs.ArtifactError) as e:
        print(f"export: {e}", file=sys.stderr)
        return 1
    if "scenes" in result:                          # a table-top network (airlib.tabletop_export)
        print(f"wrote {path}; checked on {result['scenes']} held-out scenes: {result['count_mismatches']} counts and "
              f"{result['type_mismatches']} scenes' types differ, poses within {result['max_abs_pose']:.1e}, "
              f"cameras within {result['max_abs_camera']:.1e} degrees ({'ok' if result['ok'] else 'FAILED'})")
    else:
        print(f"wrote {path}; checked on {result['images']} held-out images: {result['count_mismatches']} counts "
              f"differ, windows within {result['max_abs_window']:.1e}, reconstructions within "
              f"{result['max_abs_reconstruction']:.1e} ({'ok' if result['ok'] else 'FAILED'})")
    return 0 if result["ok"] else 1


def _reproduce(args) -> int:
    from .reproduce import ReproduceError, plan, reproduce, select
    from .sweep import SweepError
    try:
        if args.plan:
            print(plan(select(args.only, args.quick, args.chapter, args.figures), args.jobs, book=not args.no_book))
            return 0
        return reproduce(only=args.only, jobs=args.jobs, book=not args.no_book, backend=args.backend,
                         address=args.address, device=args.device, quick=args.quick, chapter=args.chapter,
                         figures=args.figures)
    except (SweepError, ReproduceError) as e:
        print(f"reproduce: {e}", file=sys.stderr)
        return 2


def _repository(args) -> int:
    from .book import BookError, repository, write_twins
    try:
        if args.url:
            for path in repository.set_url(args.url) + write_twins():
                print(f"wrote {path.relative_to(repository.ROOT)}")
        print(repository.url())
        problems = repository.stale()
    except BookError as e:
        print(f"repository: {e}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"repository: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _data(args) -> int:
    from .data import load_mnist, multi_mnist_splits
    for split in ("train", "test"):
        images, _ = load_mnist(split)
        print(f"MNIST {split}: {len(images)} digits, verified")
    for profile in ("smoke", "paper"):
        train, test = multi_mnist_splits(profile)
        print(f"multi-MNIST ({profile}): {len(train)} training and {len(test)} test images, cached")
    return 0


def _book(args) -> int:
    from . import book
    try:
        book.build(profile=args.profile, only=args.only, check=not args.no_check, chapter=args.chapter)
    except book.BookError as e:
        print(f"book: {e}", file=sys.stderr)
        return 1
    return 0


def _smoke_notebooks(args) -> int:
    from . import book
    for path in book.parameterize_all(args.out, profile="smoke"):
        print(path)
    return 0


def _twins(args) -> int:
    from . import book
    stale = book.stale_twins() if args.check else book.write_twins()
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'} {path.relative_to(book.ROOT)}")
    if args.check and stale:
        print("twins: run `python -m airlib twins`", file=sys.stderr)
        return 1
    return 0


def _backend_options(parser) -> None:
    parser.add_argument("--backend", default="local", choices=("local", "ray"),
                        help="where the jobs run: local processes (default) or Ray tasks")
    parser.add_argument("--address", default=None, help="a Ray cluster's address (with --backend ray; default: "
                        "a local cluster of --jobs CPUs)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"),
                        help="where each job trains: cpu (default), cuda, or auto (a GPU when there is one)")


def _evaluate(args) -> int:
    import torch

    from . import evaluations, runs
    torch.set_num_threads(1)          # one job per core: torch's default threads oversubscribe a busy machine
    options = {k: v for k, v in (("jobs", args.jobs), ("only", args.only)) if v is not None}
    try:
        record = evaluations.evaluate(args.name, args.profile, **options)
    except (ValueError, runs.ArtifactError) as e:
        print(f"evaluate: {e}", file=sys.stderr)
        return 2
    out = runs.RUNS / f"{args.name}-{args.profile}"
    done = "partial study, no record" if record is None else f"record in {record['wall_time_s'] / 60:.1f} min"
    print(f"{out}: {done}")
    return 0


def _sweep(args) -> int:
    from pathlib import Path

    from . import sweep
    from .train import parse_overrides
    out = Path(args.out) if args.out else None
    try:
        spec = sweep.load_spec(args.spec, parse_overrides(args.set))
        result = None if args.report else sweep.run_sweep(spec, args.backend, args.jobs, args.address, args.device, out)
    except ValueError as e:               # SweepError, or a --set value that is not JSON
        print(f"sweep: {e}", file=sys.stderr)
        return 2
    print(sweep.format_report(spec, sweep.summarise(spec, sweep.expand(spec, out, args.device))))
    return 1 if result and result["failed"] else 0


COMMANDS = {"list": _list, "promote": _promote, "evaluate": _evaluate, "export": _export, "reproduce": _reproduce,
            "sweep": _sweep, "repository": _repository, "data": _data, "book": _book,
            "smoke-notebooks": _smoke_notebooks, "twins": _twins, "numerics": _numerics}


if __name__ == "__main__":
    sys.exit(main())
