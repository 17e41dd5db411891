"""Time travel: one aggregate as the platform knew it at a moment (record time), folded from the log.

`?as_of=` on a single-aggregate read asks for the state folded from the events *recorded* by that moment, with the
service's own `evolve` (the fold its read model uses), then shaped by the live read's response model. The read is
the aggregate's own subject (batched direct gets filtered on it), stopping at the first event recorded after the
moment: one or two requests for one aggregate, whatever the size of the log (docs/adr/0031).

`as_of` is an RFC 3339 timestamp with an offset (`2024-05-10T12:00:00+08:00`, `...Z`); a date alone
(`2024-05-10`) means the end of that day in China (Asia/Shanghai), i.e. everything recorded on that business day.
A moment after the platform's now is now (nothing later is known); a moment before the aggregate's first event is
404 saying it did not exist yet (reads whose live answer for an unknown key is empty or the defaults, an
organisation's inbox and settings, a rule set, answer that instead); a value that is not a timestamp is 422 naming
`as_of`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Generic, Protocol, TypeVar, cast

import asyncpg
from fastapi import Depends, Query, Response

from shared.aggregate_table import Snapshot
from shared.clock import CHINA
from shared.contract import may_answer
from shared.direct_deliveries import direct_messages, header_fields
from shared.envelope import parse_envelope
from shared.eventstore import EventStore, Position, StoredEvent, subject_token_ok
from shared.problems import Problem
from shared.web import RuntimeDep

S = TypeVar("S")

log = logging.getLogger("tiaodu.time_travel")

AS_OF_HEADER = "Tiaodu-As-Of"  # on a historical answer: the moment it shows (UTC, RFC 3339)
AS_OF_DESCRIPTION = (
    "历史视图:平台在该时刻(记录时间)所知的状态,由事件日志折叠而成。RFC 3339 时间(须带时区,如"
    " 2024-05-10T12:00:00+08:00);只给日期(2024-05-10)表示北京时间当日结束时;晚于平台当前时间按当前时间。"
    "响应头 Tiaodu-As-Of 给出所用时刻;该时刻对象尚不存在时返回 404。"
)
END_OF_DAY = time(23, 59, 59, 999999)
MAX_LENGTH = 40  # 2024-05-10T12:00:00.123456+08:00 is 32


def parse_as_of(value: str) -> datetime:
    """An `as_of` value as an aware moment in UTC; ValueError (with a Chinese reason) when it is none."""
    text = value.strip().upper()  # RFC 3339 allows "t" and "z"; Python's parser takes only the capitals
    if len(text) > MAX_LENGTH:
        raise ValueError(f"过长(至多 {MAX_LENGTH} 个字符)")
    if len(text) == 10:  # YYYY-MM-DD: the end of that business day in China
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError("不是有效的日期(YYYY-MM-DD)") from None
        moment = datetime.combine(day, END_OF_DAY, tzinfo=CHINA)
    elif "T" not in text:
        raise ValueError("应为 RFC 3339 时间(如 2024-05-10T12:00:00+08:00)或日期(YYYY-MM-DD)")
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("不是有效的 RFC 3339 时间(如 2024-05-10T12:00:00+08:00)") from None
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("时间须带时区偏移(如 +08:00 或 Z)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-14:00 is past the last representable moment
        raise ValueError("时间超出可表示的范围") from None


@dataclass(frozen=True)
class AsOf:
    """The moment asked for, already capped at the platform's now."""

    moment: datetime
    asked: str

    def mark(self, response: Response) -> None:
        """Say on the answer that it is a historical view, and of which moment."""
        response.headers[AS_OF_HEADER] = self.moment.isoformat()


@may_answer(422)  # an `as_of` that is not a timestamp: an invalid parameter, like any other
async def as_of_query(
    runtime: RuntimeDep,
    as_of: Annotated[str | None, Query(description=AS_OF_DESCRIPTION)] = None,
) -> AsOf | None:
    """The `as_of` query parameter, capped at the platform's now (the runtime's clock)."""
    if as_of is None:
        return None
    try:
        moment = parse_as_of(as_of)
    except ValueError as e:
        raise Problem(422, f"as_of: {e}", errors=[{"field": "as_of", "reason": str(e)}]) from None
    return AsOf(min(moment, runtime.clock.now()), as_of)


AsOfDep = Annotated[AsOf | None, Depends(as_of_query)]


class Folding(Protocol[S]):
    """What time travel needs of an aggregate: its type and the fold its read model uses (AggregateTable)."""

    aggregate_type: str

    def evolve(self, state: S | None, event: StoredEvent) -> S: ...


@dataclass(frozen=True)
class Historical(Generic[S]):
    state: S
    position: Position
    recorded_at: datetime  # when the last event folded was recorded

    @classmethod
    def ending_with(cls, state: S, last: StoredEvent) -> Historical[S]:
        """The state folded up to and with `last`: its position and record time are that event's."""
        return cls(state, Position().after(last), last.envelope.recorded_at)


BATCH = 64  # events per direct-get request: past the moment, at most this many are read for nothing
REPLY_TIMEOUT_S = 5.0


async def events_until(
    store: EventStore,
    aggregate_type: str,
    aggregate_id: str,
    moment: datetime,
    *,
    start: tuple[int, str] | None = None,
    first_batch: int = BATCH,
) -> tuple[list[StoredEvent], bool]:
    """The aggregate's events recorded by `moment`, in order, and whether any event was recorded after it.

    Stream order is record order on one subject (the writer stamps `recorded_at` at append, ADR 0017), so the read
    stops at the first event recorded after the moment. Read with batched direct gets filtered on the aggregate's
    subject (one request answers up to BATCH events, as `EventStore.read_log` reads the whole log): a project with
    a few hundred events costs two or three round trips, not one per event.

    `start` (a stream sequence of the aggregate's and its stored subject: a snapshot's event): only the events from
    it on, the first request asking for `first_batch` (a snapshot's distance to the next: what the moment can
    need)."""
    # The stored subject carries the aggregate's partition (`<prefix>.evp.<n>.<type>.<id>`): the first request asks
    # with the wildcard for one event, the rest with the literal subject it names, which the server finds through
    # its per-subject index (a wildcard filter made it scan the stream: its CPU per read grew with the log).
    if start is None:
        asked = 1
        chunk = await _direct_batch(store, store.stored_filter(aggregate_type, aggregate_id), 1, asked)
    else:
        asked = first_batch
        chunk = await _direct_batch(store, start[1], start[0], asked)
    events: list[StoredEvent] = []
    while True:
        for found, stored_subject, data in chunk:
            envelope = parse_envelope(data)
            if envelope.recorded_at > moment:
                return events, True
            events.append(StoredEvent(found, stored_subject, envelope))
        if len(chunk) < asked:  # the subject has no more
            return events, False
        asked = BATCH
        chunk = await _direct_batch(store, events[-1].subject, events[-1].seq + 1, asked)


async def _direct_batch(store: EventStore, subject: str, seq: int, batch: int) -> list[tuple[int, str, bytes]]:
    """Up to `batch` messages on `subject` from stream sequence `seq`: one request, one reply per message, then an
    end-of-batch status (server 2.11+; nats-py has no API for it, hence the raw request). The replies are taken as
    they arrive, past nats-py's `Msg` (shared.direct_deliveries): each carries its sequence and subject in headers,
    and nats-py's parsing of a reply's nine header lines cost more than checking and folding its event."""
    nc = store.js._nc
    chunk: list[tuple[int, str, bytes]] = []
    done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def gather(_subject: bytes, data: bytes, block: bytes | None) -> None:
        status, fields = header_fields(block)
        if "Nats-Sequence" in fields:
            chunk.append((int(fields["Nats-Sequence"]), fields["Nats-Subject"], data))
        elif not done.done():  # the end of the batch (204), nothing (more) on the subject (404), or an error
            done.set_result(status)

    sub = await nc.subscribe(nc.new_inbox())
    unroute = direct_messages(nc, sub._id, gather)
    try:
        request = {"seq": seq, "batch": batch, "next_by_subj": subject}
        await nc.publish(f"$JS.API.DIRECT.GET.{store.stream}", json.dumps(request).encode(), reply=sub.subject)
        try:
            status = await asyncio.wait_for(done, REPLY_TIMEOUT_S)
        except TimeoutError:
            raise TimeoutError(f"direct get of {subject} from {seq}: no end of batch") from None
    finally:
        unroute()
        await sub.unsubscribe()
    if status.split(" ", 1)[0] not in ("204", "404"):
        raise RuntimeError(f"direct get of {subject} from {seq}: {status}")
    return chunk


async def existing_events_as_of(
    store: EventStore, aggregate_type: str, aggregate_id: str, moment: datetime, *, noun: str
) -> list[StoredEvent]:
    """The aggregate's events recorded by `moment` (an aggregate's timeline then); Problem 404 (naming `noun`, e.g.
    "项目") when it did not exist then, or never did."""
    if not subject_token_ok(aggregate_id):
        raise Problem(404, f"{noun}不存在")
    events, later = await events_until(store, aggregate_type, aggregate_id, moment)
    if not events:
        if later:
            shown = moment.astimezone(CHINA).isoformat(timespec="seconds")
            raise Problem(404, f"{noun}在 {shown}(北京时间)尚不存在", as_of=moment.isoformat())
        raise Problem(404, f"{noun}不存在")
    return events


def folded(aggregate: Folding[S], events: Iterable[StoredEvent]) -> S | None:
    """The aggregate after these events of it (None: there were none)."""
    state: S | None = None
    for event in events:
        state = aggregate.evolve(state, event)
    return state


async def folded_until(
    store: EventStore, aggregate: Folding[S], aggregate_id: str, moment: datetime
) -> tuple[S | None, list[StoredEvent]]:
    """The aggregate folded from its events recorded by `moment` (None: it had none yet), and those events: for the
    reads whose live answer for an unknown key is empty or the defaults, never 404."""
    events, _ = await events_until(store, aggregate.aggregate_type, aggregate_id, moment)
    return folded(aggregate, events), events


class Snapshotted(Folding[S], Protocol[S]):
    """An aggregate whose read model keeps snapshots of its state (shared.aggregate_table.AggregateTable)."""

    snapshot_every: int  # 0: it keeps none

    async def snapshot_until(
        self, conn: asyncpg.Connection, schema: str, aggregate_id: str, moment: datetime
    ) -> Snapshot[S] | None: ...


async def fold_as_of(
    store: EventStore,
    aggregate: Folding[S],
    aggregate_id: str,
    moment: datetime,
    *,
    noun: str,
    snapshots: tuple[asyncpg.Pool, str] | None = None,
) -> Historical[S]:
    """The aggregate folded from its events recorded by `moment`; Problem 404 (naming `noun`, e.g. "项目") when it
    did not exist then, or never did.

    `snapshots` (the read model's pool and schema), for an aggregate that keeps them: the fold starts from the
    latest snapshot recorded by `moment` and reads only the events after it (fewer than `snapshot_every` up to the
    moment: one request). A snapshot is the state the service's own fold reached at that version, so the answer is
    the same as folding from the first event. Without one (none yet, a state over the size bound, a read model
    built before snapshots existed) it folds them all; so it does, with a warning, when the log does not hold the
    snapshot's event as the snapshot names it (sequence, version, hash): the log is the record, a snapshot only a
    shortcut."""
    if snapshots is not None and getattr(aggregate, "snapshot_every", 0) > 0:
        snapshotted = cast(Snapshotted[S], aggregate)
        pool, schema = snapshots
        async with pool.acquire() as conn:
            snapshot = await snapshotted.snapshot_until(conn, schema, aggregate_id, moment)
        if snapshot is not None:
            then = await _fold_after(store, snapshotted, aggregate_id, moment, snapshot)
            if then is not None:
                return then
    events = await existing_events_as_of(store, aggregate.aggregate_type, aggregate_id, moment, noun=noun)
    state = folded(aggregate, events)
    assert state is not None
    return Historical.ending_with(state, events[-1])


async def _fold_after(
    store: EventStore, aggregate: Snapshotted[S], aggregate_id: str, moment: datetime, snapshot: Snapshot[S]
) -> Historical[S] | None:
    """The fold from `snapshot` over the events after it recorded by `moment`; None when the log does not hold the
    snapshot's event where and as the snapshot says (the aggregate's, at its stream sequence, version and hash)."""
    # The snapshot's own event, then up to the next snapshot's version: the event that may close the read (recorded
    # after the moment) included. Reading the snapshot's event costs one more event and checks the snapshot
    # against the log even when nothing follows it by the moment.
    at = snapshot.position
    events, _ = await events_until(
        store, aggregate.aggregate_type, aggregate_id, moment, start=(at.last_seq, snapshot.subject),
        first_batch=aggregate.snapshot_every + 1,
    )  # fmt: skip
    own = events[0] if events else None
    named = (aggregate.aggregate_type, aggregate_id, at.last_seq, at.version, at.last_hash)
    if own is None or (own.envelope.aggregate_type, own.envelope.aggregate_id, own.seq, own.envelope.version,
                       own.envelope.hash) != named:  # fmt: skip
        found = "nothing" if own is None else f"version {own.envelope.version} at seq {own.seq}"
        log.warning(
            "snapshot of %s %s at version %d (seq %d) does not match the log (%s there): folded from the log",
            aggregate.aggregate_type, aggregate_id, at.version, at.last_seq, found,
        )  # fmt: skip
        return None
    state = snapshot.state
    for event in events[1:]:
        state = aggregate.evolve(state, event)
    return Historical.ending_with(state, events[-1])


def end_of_china_day(day: date) -> datetime:
    """The last moment of a business day in China: what was recorded "on or before D"."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=CHINA) - timedelta(microseconds=1)
