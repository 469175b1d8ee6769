"""Profiles: one name picks the scale of every experiment (`smoke` for tests, `paper` for the book).

Each module that has a configuration keeps a table ``{"smoke": Config(...), "paper": Config(...)}`` of
frozen dataclasses beside the code that uses it, and looks it up with :func:`select`, so a test, a
notebook and the command line build the same configuration from the same name.
"""
from __future__ import annotations

from typing import Mapping, TypeVar

PROFILES = ("smoke", "paper")

T = TypeVar("T")


def check(profile: str) -> str:
    """Returns ``profile`` if it names a known profile, else raises a ValueError listing them."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(PROFILES)}")
    return profile


def select(table: Mapping[str, T], profile: str) -> T:
    """Looks up a profile's configuration in ``table``, with a clear error for an unknown name.

    Args:
        table: maps profile names to frozen configuration dataclasses.
        profile: ``"smoke"`` or ``"paper"``.

    Returns:
        The configuration for ``profile``.
    """
    check(profile)
    if profile not in table:
        raise ValueError(f"profile {profile!r} has no configuration here; known: {', '.join(table)}")
    return table[profile]
