"""`EventStore.append_batch` against a real JetStream stream: several aggregates' events published before any
acknowledgement is awaited, each one stored exactly as `append` stores it (chain, expected sequence, duplicates),
and each append's outcome on its own: a stale position is that append's conflict, the others are stored."""

from __future__ import annotations

import pytest

from services.intake.commands import RegisterProgramme
from services.intake.domain import decide_register_programme
from shared.envelope import Actor, Role, parse_envelope
from shared.eventstore import Append, ConcurrencyConflict, Context, EventStore, Position, StoredEvent

HQ = Context(actor=Actor(org_id="hq", role=Role.HQ, user="batch"), correlation_id="batch-test")


def registered(pid: str, year: int = 2024) -> Append:
    payload = decide_register_programme(None, RegisterProgramme(id=pid, name=f"计划{pid}", year=year))
    return Append("programme", pid, payload, Position(), HQ)


async def test_a_batch_stores_each_event_as_append_does_and_each_outcome_stands_alone(store: EventStore) -> None:
    ids = [f"batch-{i}" for i in range(30)]
    first = await store.append_batch([registered(pid) for pid in ids])
    assert all(isinstance(e, StoredEvent) for e in first)
    stored = [e for e in first if isinstance(e, StoredEvent)]
    assert sorted(e.seq for e in stored) == list(range(1, 31))
    for pid, event in zip(ids, stored, strict=True):
        [read] = await store.read_aggregate("programme", pid)
        assert read.seq == event.seq and read.envelope == event.envelope  # the bytes stored are the envelope
        data = (await store.js.get_msg(store.stream, seq=event.seq, direct=True)).data or b""
        assert parse_envelope(data, verify_hash=True).hash == event.envelope.hash

    # The second round: one append from a stale position (its aggregate is at version 1 already) among good ones.
    nexts = [
        Append("programme", pid, registered(pid, 2025).payload, Position().after(event), HQ)
        for pid, event in zip(ids[:5], stored[:5], strict=True)
    ]
    nexts.append(registered(ids[5]))  # stale: expects an empty aggregate
    second = await store.append_batch(nexts)
    assert isinstance(second[5], ConcurrencyConflict)
    for pid, event, outcome in zip(ids[:5], stored[:5], second[:5], strict=True):
        assert isinstance(outcome, StoredEvent), outcome
        assert (outcome.envelope.version, outcome.envelope.prev_hash) == (2, event.envelope.hash)
        assert [e.seq for e in await store.read_aggregate("programme", pid)] == [event.seq, outcome.seq]
    assert len(await store.read_aggregate("programme", ids[5])) == 1
    assert await store.last_seq() == 35


async def test_an_aggregate_twice_in_one_batch_is_refused_before_anything_is_published(store: EventStore) -> None:
    with pytest.raises(ValueError, match="more than once"):
        await store.append_batch([registered("twice"), registered("twice")])
    assert await store.last_seq() == 0
    assert await store.append_batch([]) == []
