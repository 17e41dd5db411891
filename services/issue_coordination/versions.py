"""Versioned rule data with effective dates (calendars, deadline rules): which version is in force on a day.

A version is in force from its `effective_from` day on, until one with a later `effective_from` starts; of two
with the same day the later-published (higher number) wins. What was computed with a version records its number
and is never recomputed under a newer one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Protocol, TypeVar


class Versioned(Protocol):
    @property
    def version(self) -> int: ...

    @property
    def effective_from(self) -> date: ...


V = TypeVar("V", bound=Versioned)


def in_force(versions: Iterable[V], day: date) -> V | None:
    """The version in force on `day`, or None when every version starts later (or there is none)."""
    candidates = [v for v in versions if v.effective_from <= day]
    return max(candidates, key=lambda v: (v.effective_from, v.version)) if candidates else None


def numbered(versions: Iterable[V], number: int) -> V | None:
    return next((v for v in versions if v.version == number), None)


def next_number(versions: Iterable[V]) -> int:
    return max((v.version for v in versions), default=0) + 1
