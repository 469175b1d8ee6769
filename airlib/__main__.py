"""The command line: ``python -m airlib {data,book,train} ...``."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"]:
        from . import train
        return train.main(argv[1:]) or 0
    parser = argparse.ArgumentParser(prog="python -m airlib", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("data", help="fetch, verify and cache MNIST and the multi-MNIST sets")
    book = sub.add_parser("book", help="execute the notebooks with papermill and build the book")
    book.add_argument("--profile", default="paper", help="profile passed to every notebook (default: paper)")
    book.add_argument("--only", nargs="*", help="execute only these notebooks (file names or stems)")
    book.add_argument("--no-check", action="store_true", help="skip the headless-browser check of the built book")
    sub.add_parser("train", help="train an experiment: python -m airlib train <experiment> --profile P --seed S")
    smoke = sub.add_parser("smoke-notebooks", help="write every notebook as .ipynb with profile=smoke, for nbval")
    smoke.add_argument("out", help="output folder")
    twins = sub.add_parser("twins", help="write the notebooks/NN_*.ipynb twins of the .py chapters (Binder, Colab)")
    twins.add_argument("--check", action="store_true", help="write nothing; fail if a twin is missing or stale")
    args = parser.parse_args(argv)
    if args.command == "data":
        from .data import load_mnist, multi_mnist_splits
        for split in ("train", "test"):
            images, _ = load_mnist(split)
            print(f"MNIST {split}: {len(images)} digits, verified")
        for profile in ("smoke", "paper"):
            train, test = multi_mnist_splits(profile)
            print(f"multi-MNIST ({profile}): {len(train)} training and {len(test)} test images, cached")
    elif args.command == "book":
        from . import book
        try:
            book.build(profile=args.profile, only=args.only, check=not args.no_check)
        except book.BookError as e:
            print(f"book: {e}", file=sys.stderr)
            return 1
    elif args.command == "smoke-notebooks":
        from . import book
        for path in book.parameterize_all(args.out, profile="smoke"):
            print(path)
    elif args.command == "twins":
        from . import book
        stale = book.stale_twins() if args.check else book.write_twins()
        for path in stale:
            print(f"{'stale' if args.check else 'wrote'} {path.relative_to(book.ROOT)}")
        if args.check and stale:
            print("twins: run `python -m airlib twins`", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
