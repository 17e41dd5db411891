"""The generic field-level view of an aggregate (docs/adr/0029): audit knows no service's `evolve`, so an aggregate's
state at a moment is the fold of its events' payload fields in log order, each field's value being that of the last
event that set it.

- A field is a path into the payload: nested objects are walked (`task_force.lead.name`); lists and scalars are values.
- `null` sets nothing: the platform's partial updates (an amendment) carry every field they do not change as null.
- An event that sets an object replaces what was under its path: a sub-field the new object lacks is gone.
Each field remembers the event that last set it, so a diff names, for every changed field, the event that changed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setter:
    """The event that set a field (whatever the index row or envelope it came from holds)."""

    seq: int
    event: Mapping[str, Any]


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any
    before_set: bool
    after_set: bool
    changed_by: Setter  # the last event at or before the later moment that set (or removed) the field


def leaves(payload: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) a payload sets: nested objects walked, nulls left out."""
    for key, value in payload.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield path, None  # the object itself: clears what was under it
            yield from leaves(value, f"{path}.")
        elif value is not None:
            yield path, value


@dataclass
class FieldState:
    values: dict[str, Any]
    setters: dict[str, Setter]
    removed_by: dict[str, Setter]


def fold(events: Iterable[tuple[Setter, Mapping[str, Any]]]) -> FieldState:
    """The fields after `events` (each with its payload), in the order given (log order)."""
    state = FieldState({}, {}, {})
    for setter, payload in events:
        for path, value in leaves(payload):
            if value is None:  # an object: what was under it is replaced by what it holds
                under = f"{path}."
                for old in [p for p in state.values if p.startswith(under) or p == path]:
                    del state.values[old]
                    state.removed_by[old] = setter
                continue
            state.values[path] = value
            state.setters[path] = setter
            state.removed_by.pop(path, None)
    return state


def diff(before: FieldState, after: FieldState) -> list[FieldChange]:
    """Every field whose value differs between the two states, by path."""
    changes = []
    for path in sorted(set(before.values) | set(after.values)):
        had, has = path in before.values, path in after.values
        old, new = before.values.get(path), after.values.get(path)
        if had == has and old == new:
            continue
        changed_by = after.setters[path] if has else after.removed_by[path]
        changes.append(FieldChange(path, old, new, had, has, changed_by))
    return changes
