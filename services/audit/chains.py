"""The chain check of the whole log (docs/adr/0029), pure and synchronous: fed the log's raw messages in stream
order, it keeps every aggregate's head and the first break of each broken aggregate.

For every event: the stored subject names an aggregate and the envelope names the same one; the envelope parses and
its type and payload are the catalogue's; its hash is the SHA-256 of its RFC 8785 canonical form without `hash`
(recomputed from the stored bytes, not from a re-serialisation); its `version` follows the aggregate's last sound
event and its `prev_hash` is that event's hash. Linkage and content are checked apart: an event whose bytes were
altered but whose linkage holds still moves the head (with the hash it claims, the one its successor links to), so
one altered event is one break, not a break of everything after it; an event out of chain does not move the head,
as no consumer applied it (shared/verification.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.envelope import hash_document
from shared.verification import Head, Key, Raw, Unsound, check_event, subject_key


@dataclass(frozen=True)
class Break:
    seq: int
    reason: str


@dataclass
class ChainCheck:
    events: int = 0
    heads: dict[Key, Head] = field(default_factory=dict)
    first_break: dict[Key, Break] = field(default_factory=dict)
    break_count: dict[Key, int] = field(default_factory=dict)
    last_seq: int = 0

    @property
    def aggregates(self) -> int:
        return len(self.heads.keys() | self.first_break.keys())

    def _broken(self, key: Key, seq: int, reason: str) -> None:
        self.first_break.setdefault(key, Break(seq, reason))
        self.break_count[key] = self.break_count.get(key, 0) + 1

    def feed(self, raws: Iterable[tuple[int, str, bytes]]) -> None:
        for seq, subject, data in raws:
            self.events += 1
            self.last_seq = seq
            self._check(Raw(seq, subject, data))

    def _check(self, raw: Raw) -> None:
        try:
            key = subject_key(raw.subject)
        except Unsound as exc:
            self._broken(("", raw.subject), raw.seq, str(exc))
            return
        try:
            event = check_event(raw)  # subject = envelope, catalogue type and payload
        except Unsound as exc:
            self._broken(key, raw.seq, str(exc))
            return
        env = event.envelope
        if not hash_matches(raw.data):
            self._broken(
                key, raw.seq, f"hash does not match the canonical envelope (RFC 8785) of version {env.version}"
            )
        head = self.heads.get(key)
        version, prev_hash = (head.version + 1, head.hash) if head else (1, None)
        if env.version != version:
            self._broken(key, raw.seq, f"version {env.version} does not follow {version - 1}")
        elif env.prev_hash != prev_hash:
            self._broken(key, raw.seq, f"prev_hash does not match the hash of version {version - 1}")
        else:
            self.heads[key] = Head(env.version, env.hash)


def hash_matches(data: bytes) -> bool:
    """The stored bytes' own `hash` is the hash of the rest of them, canonicalised (what any auditor recomputes)."""
    document = json.loads(data)
    claimed = document.pop("hash", None)
    return bool(hash_document(document) == claimed)
