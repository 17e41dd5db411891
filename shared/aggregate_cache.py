"""Recent aggregates' state and position, in memory, so that a command usually needs no read before its append.

The cache may be stale (another replica appended): the append's expected-sequence check catches it, the entry is
dropped, and the command loads from the read-model row plus the event tail and decides again. So a stale entry costs
one lost race, never a wrong write. Bounded: least recently used entries go first.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from shared.eventstore import Position

DEFAULT_ENTRIES = 10_000
RECENT_IDS = 16  # event ids appended through this cache, per aggregate: a retried keyed command finds its own


@dataclass
class Entry:
    state: Any
    position: Position
    recent: dict[uuid.UUID, Position] = field(default_factory=dict)


class AggregateCache:
    def __init__(self, max_entries: int = DEFAULT_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, aggregate_type: str, aggregate_id: str) -> Entry | None:
        entry = self._entries.get((aggregate_type, aggregate_id))
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end((aggregate_type, aggregate_id))
        self.hits += 1
        return entry

    def put(
        self, aggregate_type: str, aggregate_id: str, state: Any, position: Position, appended: uuid.UUID | None = None
    ) -> None:
        """Remember where an aggregate stands; `appended`: the id of the event that just took it there."""
        if state is None:
            return  # nothing to spare a read for: a creation checks the log anyway
        key = (aggregate_type, aggregate_id)
        previous = self._entries.get(key)
        recent = dict(previous.recent) if previous is not None and appended is not None else {}
        if appended is not None:
            recent[appended] = position
            while len(recent) > RECENT_IDS:
                recent.pop(next(iter(recent)))
        self._entries[key] = Entry(state, position, recent)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def drop(self, aggregate_type: str, aggregate_id: str) -> None:
        self._entries.pop((aggregate_type, aggregate_id), None)
