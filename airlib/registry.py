"""A registry of named things that register themselves on import: the experiments and the evaluations."""
from __future__ import annotations

import importlib
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> items of one kind (``kind``: "experiment", "evaluation"), filled by importing ``modules``.

    A module that needs an optional package it lacks (mujoco) is skipped, and :meth:`get` says which.
    ``same(a, b)`` tells a module imported again (the same item anew) from two items that claim one name.
    """

    def __init__(self, kind: str, modules: tuple[str, ...], same: Callable[[T, T], bool]):
        self.kind, self.modules, self.same = kind, modules, same
        self.items: dict[str, T] = {}
        self.missing: dict[str, str] = {}       # module -> the optional package it lacks

    def register(self, name: str, item: T) -> T:
        if name in self.items and not self.same(self.items[name], item):
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self.items[name] = item
        return item

    def load_all(self) -> None:
        for module in self.modules:
            if module in self.missing:
                continue
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as e:    # an optional dependency: that module's items are unavailable
                self.missing[module] = e.name

    def names(self) -> list[str]:
        self.load_all()
        return sorted(self.items)

    def get(self, name: str) -> T:
        """The item called ``name``, with an error listing the known ones (and the modules that could not load)."""
        self.load_all()
        if name not in self.items:
            lacking = "".join(f"; {m} needs the package {p!r}" for m, p in self.missing.items())
            raise ValueError(f"unknown {self.kind} {name!r}: expected one of {', '.join(sorted(self.items))}{lacking}")
        return self.items[name]
