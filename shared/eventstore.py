"""The event store on one JetStream stream.

Publishers write `<prefix>.ev.<aggregate_type>.<aggregate_id>`; the stream's subject transform stores each event
as `<prefix>.evp.<partition>.<aggregate_type>.<aggregate_id>`, the partition a deterministic hash of the id, so
one consumer per partition sees every aggregate's events in order (docs/adr/0002-partitioned-projections.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import APIError, NotFoundError
from pydantic import BaseModel

from shared.catalogue import CATALOGUE
from shared.catalogue.registry import EventType
from shared.clock import Clock, SystemClock
from shared.direct_deliveries import direct_deliveries
from shared.envelope import TOKEN_RE, Actor, Envelope, encode_envelope, parse_envelope
from shared.telemetry import append_span

WRONG_LAST_SEQUENCE = 10071
REPLAY_REPLY_TIMEOUT_S = 5.0
REPLAY_RETRIES = 3  # consecutive requests answered with nothing before a replay gives up

log = logging.getLogger("tiaodu.eventstore")


class ConcurrencyConflict(Exception):
    """Someone else appended to the aggregate first."""

    def __init__(self, aggregate_type: str, aggregate_id: str, detail: str) -> None:
        super().__init__(f"{aggregate_type}/{aggregate_id}: {detail}")
        self.aggregate_type = aggregate_type
        self.aggregate_id = aggregate_id


@dataclass(frozen=True)
class Position:
    """Where an aggregate stands: its version, the stream sequence and the hash of its last event."""

    version: int = 0
    last_seq: int = 0
    last_hash: str | None = None

    def after(self, event: StoredEvent) -> Position:
        return Position(event.envelope.version, event.seq, event.envelope.hash)


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    subject: str
    envelope: Envelope
    duplicate: bool = False

    @property
    def partition(self) -> int:
        """The partition of a stored subject (`<prefix>.evp.<n>.<type>.<id>`) as read back from the stream."""
        return int(self.subject.split(".")[2])


@dataclass(frozen=True)
class Append:
    """One event to append (`EventStore.append`'s arguments, for `append_batch`)."""

    aggregate_type: str
    aggregate_id: str
    payload: BaseModel
    expected: Position
    context: Context
    event_id: uuid.UUID | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Context:
    """Who asks, and what caused the request: recorded on every event a command appends."""

    actor: Actor
    correlation_id: str
    causation_id: str | None = None
    trace_context: dict[str, str] | None = None


class EventStore:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        stream: str,
        prefix: str,
        partitions: int,
        replicas: int = 1,
        clock: Clock | None = None,
    ) -> None:
        self.js = js
        # Stamps `recorded_at`: the service's clock (the platform clock, real time in production), so that record
        # time and business dates are on one clock; the stream's own timestamp stays the wall-clock witness.
        self.clock: Clock = clock or SystemClock()
        self.replicas = replicas  # 3 on a NATS cluster: the log survives the loss of a server
        self.stream = stream
        self.prefix = prefix
        self.partitions = partitions

    # -- subjects -------------------------------------------------------------------------------------------

    def publish_subject(self, aggregate_type: str, aggregate_id: str) -> str:
        return f"{self.prefix}.ev.{aggregate_type}.{aggregate_id}"

    def stored_filter(self, aggregate_type: str, aggregate_id: str) -> str:
        return f"{self.prefix}.evp.*.{aggregate_type}.{aggregate_id}"

    def partition_filter(self, partition: int) -> str:
        return f"{self.prefix}.evp.{partition}.>"

    # -- writing --------------------------------------------------------------------------------------------

    def require_connected(self) -> None:
        """Raise at once while NATS is away: nats-py, reconnecting, would hold a request until its timeout (5 s), so a
        command would hang that long before its 503; a client hears 503 with Retry-After now (docs/adr/0034)."""
        if not self.js._nc.is_connected:
            raise nats.errors.ConnectionReconnectingError

    async def append(
        self,
        aggregate_type: str,
        aggregate_id: str,
        payload: BaseModel,
        *,
        expected: Position,
        context: Context,
        event_id: uuid.UUID | None = None,
        occurred_at: datetime | None = None,
    ) -> StoredEvent:
        """Append one event after `expected`; raises ConcurrencyConflict if the aggregate moved on."""
        one = Append(aggregate_type, aggregate_id, payload, expected, context, event_id, occurred_at)
        entry = self._entry(one)
        # The event carries the append span's trace context: consumers' spans become its children (ADR 0035).
        with append_span(entry.name, context.trace_context) as carried:
            envelope, data, headers = self._encode(one, entry, carried)
            subject = self.publish_subject(aggregate_type, aggregate_id)
            try:
                ack = await self.js.publish(subject, data, stream=self.stream, headers=headers)
            except APIError as exc:
                if exc.err_code == WRONG_LAST_SEQUENCE:
                    raise ConcurrencyConflict(aggregate_type, aggregate_id, str(exc.description)) from exc
                raise
            return await self._stored(ack.seq, bool(ack.duplicate), subject, envelope)

    async def append_batch(self, appends: Sequence[Append]) -> list[StoredEvent | Exception]:
        """Append one event to each of several aggregates at once: every event is encoded and checked as `append`
        does it and published with its expected sequence, all before the first acknowledgement is awaited; then
        every acknowledgement is awaited. Returns, in order, each event as stored or the error its append met
        (ConcurrencyConflict, APIError, NoStreamResponseError, TimeoutError): each append stands alone.

        What a bulk writer (the bench's generator, an import) uses: the appends' CPU without a future, a timer and a
        wake-up per event. An aggregate appears at most once: its next event's expected sequence is this one's ack."""
        keys = {(a.aggregate_type, a.aggregate_id) for a in appends}
        if len(keys) != len(appends):
            raise ValueError("append_batch: an aggregate appears more than once")
        acks: dict[int, bytes] = {}
        all_in = asyncio.get_running_loop().create_future()

        def acknowledged(subject: bytes, _reply: bytes, data: bytes) -> None:
            i = int(subject.rsplit(b".", 1)[1])
            if i not in acks and i < len(appends):
                acks[i] = data
                if len(acks) == len(appends) and not all_in.done():
                    all_in.set_result(None)

        # Every event encoded first: one that cannot be fails the batch before anything is published.
        encoded: list[tuple[str, Envelope, bytes, dict[str, str]]] = []
        for one in appends:
            entry = self._entry(one)
            with append_span(entry.name, one.context.trace_context) as carried:
                envelope, data, headers = self._encode(one, entry, carried)
            headers[js_api.Header.EXPECTED_STREAM] = self.stream
            encoded.append((self.publish_subject(one.aggregate_type, one.aggregate_id), envelope, data, headers))
        nc = self.js._nc
        inbox = nc.new_inbox()
        sub = await nc.subscribe(f"{inbox}.*")
        unroute = direct_deliveries(nc, sub._id, acknowledged, with_reply_only=False)
        try:
            for i, (subject, _, data, headers) in enumerate(encoded):
                await nc.publish(subject, data, reply=f"{inbox}.{i}", headers=headers)
            if appends:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(all_in), self.js._timeout + 0.01 * len(appends))
        finally:
            unroute()
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        results: list[StoredEvent | Exception] = []
        for i, (one, (subject, envelope, _, _)) in enumerate(zip(appends, encoded, strict=True)):
            results.append(await self._outcome(one, acks.get(i), subject, envelope))
        return results

    async def _outcome(
        self, one: Append, data: bytes | None, subject: str, envelope: Envelope
    ) -> StoredEvent | Exception:
        """What the acknowledgement of one of `append_batch`'s publishes says (None: none came in time)."""
        if data is None:
            return nats.errors.TimeoutError()
        try:
            answer = json.loads(data) if data else None
            if answer is None:  # a status without a body: no stream answered (503)
                raise nats.js.errors.NoStreamResponseError
            if "error" in answer:
                raise APIError.from_error(answer["error"])
            return await self._stored(int(answer["seq"]), bool(answer.get("duplicate")), subject, envelope)
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                return ConcurrencyConflict(one.aggregate_type, one.aggregate_id, str(exc.description))
            return exc
        except Exception as exc:  # returned with its append: the caller asked for each one's outcome
            return exc

    def _entry(self, one: Append) -> EventType:
        entry = CATALOGUE.entry_for(one.payload)
        if not entry.belongs_to(one.aggregate_type):
            raise ValueError(f"{entry.name} belongs to {entry.aggregate_type}, not {one.aggregate_type}")
        return entry

    def _encode(self, one: Append, entry: EventType, carried: dict[str, str]) -> tuple[Envelope, bytes, dict[str, str]]:
        """The envelope, its stored bytes and the publish headers of one append (inside its append span)."""
        now = self.clock.now()
        envelope, data = encode_envelope(
            {
                "id": one.event_id or uuid.uuid4(),
                "type": entry.name,
                "schema_version": entry.schema_version,
                "aggregate_type": one.aggregate_type,
                "aggregate_id": one.aggregate_id,
                "version": one.expected.version + 1,
                "occurred_at": one.occurred_at or now,
                "recorded_at": now,
                "actor": one.context.actor,
                "causation_id": one.context.causation_id,
                "correlation_id": one.context.correlation_id,
                # Only the W3C trace context (of the append span) is carried: nothing a client sent enters the log.
                "trace_context": carried,
                "prev_hash": one.expected.last_hash,
                "payload": one.payload.model_dump(mode="json"),
            }
        )
        headers = {
            js_api.Header.MSG_ID: str(envelope.id),
            js_api.Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(one.expected.last_seq),
            "Tiaodu-Event-Type": entry.name,
            **envelope.trace_context,
        }
        return envelope, data, headers

    async def _stored(self, seq: int, duplicate: bool, subject: str, envelope: Envelope) -> StoredEvent:
        if duplicate:
            # The same event id was appended moments ago (a retried command): answer with what is stored.
            stored = await self.get(seq)
            return StoredEvent(stored.seq, stored.subject, stored.envelope, duplicate=True)
        return StoredEvent(seq, subject, envelope)

    # -- reading --------------------------------------------------------------------------------------------

    async def get(self, seq: int) -> StoredEvent:
        msg = await self.js.get_msg(self.stream, seq=seq, direct=True)
        assert msg.data is not None and msg.subject is not None and msg.seq is not None
        return StoredEvent(msg.seq, msg.subject, parse_envelope(msg.data))

    async def read_aggregate(self, aggregate_type: str, aggregate_id: str, after_seq: int = 0) -> list[StoredEvent]:
        """Events of one aggregate after `after_seq`, in order (a command's tail read is usually empty)."""
        if not (subject_token_ok(aggregate_type) and subject_token_ok(aggregate_id)):
            raise ValueError(f"not a subject token: {aggregate_type}/{aggregate_id}")
        subject = self.stored_filter(aggregate_type, aggregate_id)
        events: list[StoredEvent] = []
        seq = after_seq + 1
        while True:
            try:
                msg = await self.js.get_msg(self.stream, seq=seq, subject=subject, next=True, direct=True)
            except NotFoundError:
                return events
            assert msg.data is not None and msg.subject is not None and msg.seq is not None
            events.append(StoredEvent(msg.seq, msg.subject, parse_envelope(msg.data)))
            seq = msg.seq + 1

    async def last_before(self, aggregate_type: str, aggregate_id: str, before_seq: int) -> StoredEvent | None:
        """The last event of an aggregate stored before `before_seq` (a consumer's chain head it has not seen)."""
        last = None
        for event in await self.read_aggregate(aggregate_type, aggregate_id):
            if event.seq >= before_seq:
                break
            last = event
        return last

    async def first_in_partition_after(
        self, partition: int, after_seq: int, *, aggregate_type: str | None = None
    ) -> int | None:
        """Stream sequence of the next event in a partition (of one aggregate type) after `after_seq`, or None."""
        subject = self.partition_filter(partition)
        if aggregate_type is not None:
            subject = f"{self.prefix}.evp.{partition}.{aggregate_type}.*"
        try:
            msg = await self.js.get_msg(self.stream, seq=after_seq + 1, subject=subject, next=True, direct=True)
        except NotFoundError:
            return None
        return msg.seq

    async def last_seq(self) -> int:
        info = await self.js.stream_info(self.stream)
        return int(info.state.last_seq)

    async def read_log(
        self, from_seq: int = 1, *, until_seq: int | None = None, batch: int = 1000
    ) -> AsyncIterator[list[tuple[int, str, bytes]]]:
        """The raw log (seq, stored subject, data) from a sequence, in batches, up to `until_seq` (default: now).

        Raw, so that a consumer decides what to do with an event it cannot parse. Read with batched direct gets
        (server 2.11+): a service needs no consumer for a replay, so its NATS user is granted no unnamed consumers
        (through which it could take another service's consumer name, docs/adr/0006).
        """
        end = until_seq if until_seq is not None else await self.last_seq()
        nc = self.js._nc  # nats-py has no batched direct get: one request, many replies, then an end-of-batch status
        seq = from_seq
        stalls = 0
        while seq <= end:
            # A fresh inbox per request: late replies to a request given up on can never be mistaken for these.
            inbox = nc.new_inbox()
            sub = await nc.subscribe(inbox)
            try:
                request = {"seq": seq, "batch": min(batch, end - seq + 1), "next_by_subj": f"{self.prefix}.evp.>"}
                await nc.publish(f"$JS.API.DIRECT.GET.{self.stream}", json.dumps(request).encode(), reply=inbox)
                chunk: list[tuple[int, str, bytes]] = []
                complete = False
                while True:
                    try:
                        msg = await sub.next_msg(timeout=REPLAY_REPLY_TIMEOUT_S)
                    except nats.errors.TimeoutError:
                        break  # a reply went missing: ask again from where this batch stopped
                    headers = msg.headers or {}
                    if "Nats-Sequence" not in headers:
                        status = headers.get("Status", "")
                        if status not in ("204", "404"):  # end of batch / nothing (more) to read
                            raise RuntimeError(f"log replay at {seq}: {status} {headers.get('Description', '')}")
                        complete = True
                        break
                    found = int(headers["Nats-Sequence"])
                    if found <= end:
                        chunk.append((found, headers["Nats-Subject"], msg.data))
            finally:
                await sub.unsubscribe()
            if not complete:
                stalls = 0 if chunk else stalls + 1
                if stalls > REPLAY_RETRIES:
                    raise RuntimeError(f"log replay stalled at sequence {seq}")
                log.warning("log replay: batch from %s answered only up to %s; asking again", seq,
                            chunk[-1][0] if chunk else None)  # fmt: skip
            if chunk:
                yield chunk
                seq = chunk[-1][0] + 1
            elif complete:
                return


def subject_token_ok(value: str) -> bool:
    return bool(TOKEN_RE.fullmatch(value))
