"""Telemetry defaults every service shares: OpenTelemetry traces (OTLP export) and JSON logs with trace and
correlation ids (docs/adr/0035)."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.propagate import extract, get_global_textmap
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.metrics import COMMAND_SECONDS

if TYPE_CHECKING:  # settings import the clock, which imports the consumer, which imports the event store (and us)
    from fastapi.telemetry import TelemetryConfig  # a type only: the event store's users need no web framework

    from shared.settings import Settings

# The standard variables of the OTLP exporter: either one turns the export on (docs/adr/0035).
OTLP_ENDPOINT_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def setup_telemetry(service: str, settings: Settings) -> None:
    """Install a tracer provider once per process.

    Spans go to the OTLP/HTTP endpoint named by the standard environment (OTEL_EXPORTER_OTLP_ENDPOINT, e.g.
    http://otel-collector:4318, or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), to the console with OTEL_TRACES_CONSOLE=1,
    and nowhere when neither is set (development). OTEL_SERVICE_NAME overrides the service's name.
    """
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    name = os.environ.get("OTEL_SERVICE_NAME") or service
    otlp = any(os.environ.get(key) for key in OTLP_ENDPOINT_ENV)
    console = os.environ.get("OTEL_TRACES_CONSOLE") == "1"
    # Spans nobody exports are not recorded (the SDK would build, time and drop each one: a few percent of a
    # command's CPU). Their ids are still made and carried, so events and logs still join up by trace; the
    # standard OTEL_TRACES_SAMPLER, when set, decides instead.
    unexported = not (otlp or console or os.environ.get("OTEL_TRACES_SAMPLER"))
    provider = TracerProvider(
        resource=Resource.create({"service.name": name, "service.instance.id": settings.replica_id}),
        sampler=ALWAYS_OFF if unexported else None,
    )
    if otlp:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # Batched off the event loop, in the processor's own thread; the provider flushes it at exit.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if console:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)


# A proxy that follows whichever provider is installed, now or later: looked up once, not on every span.
_TRACER = trace.get_tracer("tiaodu")


def tracer() -> trace.Tracer:
    return _TRACER


def meter() -> metrics.Meter:
    return metrics.get_meter("tiaodu")


# Only the W3C trace context enters the permanent log: never `baggage` (free-form data a client can send, which the
# global propagator would copy along) nor any other request header.
_TRACE_CONTEXT = TraceContextTextMapPropagator()


def current_trace_context() -> dict[str, str]:
    """W3C trace context of the current span, to be carried in an event's envelope and NATS headers."""
    return trace_context_of(trace.get_current_span().get_span_context())


def trace_context_of(span_context: trace.SpanContext) -> dict[str, str]:
    """The W3C trace context (`traceparent`, and `tracestate` when there is one) of a span, as
    TraceContextTextMapPropagator.inject writes it (the tests compare the two), without the propagator's detour
    through the current context and a carrier."""
    if not span_context.is_valid:
        return {}
    carried = {
        "traceparent": f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{span_context.trace_flags:02x}"
    }
    if span_context.trace_state:
        carried["tracestate"] = span_context.trace_state.to_header()
    return carried


class CurrentSpan:
    """A started span made current for a `with` block and ended after it, as `tracer.start_as_current_span` does, with
    none of its two generator-based context managers (on the command path, a fifth of a span's cost): an exception
    (not a BaseException such as a cancellation, as `trace.use_span`) is recorded on it and sets its status."""

    __slots__ = ("span", "token")

    def __init__(self, span: trace.Span) -> None:
        self.span = span

    def __enter__(self) -> trace.Span:
        self.token = otel_context.attach(trace.set_span_in_context(self.span))
        return self.span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        otel_context.detach(self.token)
        if isinstance(exc, Exception):
            self.span.__exit__(exc_type, exc, tb)  # the SDK's span records it, sets ERROR and ends
        else:
            self.span.end()


def _span_context(carrier: Mapping[str, str]) -> trace.SpanContext:
    return trace.get_current_span(_TRACE_CONTEXT.extract(dict(carrier))).get_span_context()


@contextmanager
def consumer_span(name: str, contexts: Sequence[Mapping[str, str]], **attributes: Any) -> Iterator[trace.Span]:
    """A span for work caused by a batch of events (a projection batch).

    It is a child of the first event's append span, so the trace of a request goes on into every projection that
    applies its event, and linked to every causing event's span (the others' traces find it through the link, as the
    OpenTelemetry messaging conventions do for a batch)."""
    links: list[trace.Link] = []
    parent: trace.SpanContext | None = None
    for carrier in contexts:
        span_context = _span_context(carrier)
        if span_context.is_valid:
            links.append(trace.Link(span_context))
            parent = parent or span_context
    context = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent is not None else None
    with tracer().start_as_current_span(
        name, context=context, kind=trace.SpanKind.CONSUMER, links=links, attributes=attributes
    ) as span:
        yield span


@contextmanager
def event_span(name: str, trace_context: Mapping[str, str], correlation_id: str, **attributes: Any) -> Iterator[None]:
    """A span for work one event causes (a reaction's handler, a delivery): a child of the event's append span, with
    the event's correlation id in the logs written meanwhile."""
    parent = _span_context(trace_context)
    context = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent.is_valid else None
    token = CORRELATION_ID.set(correlation_id)
    try:
        with tracer().start_as_current_span(name, context=context, kind=trace.SpanKind.CONSUMER, attributes=attributes):
            yield
    finally:
        CORRELATION_ID.reset(token)


class AppendSpan(CurrentSpan):
    """The producer span of one append; `with` gives the trace context the event carries (this span's)."""

    __slots__ = ()

    def __enter__(self) -> dict[str, str]:  # type: ignore[override]
        return trace_context_of(super().__enter__().get_span_context())


# Per event type, built once: the attributes and the name of its append spans (the SDK copies attributes it keeps).
_APPEND_SPAN_NAMES: dict[str, tuple[str, dict[str, str]]] = {}


def append_span(event_type: str, trace_context: Mapping[str, str] | None) -> AppendSpan:
    """The producer span of one append, to be entered with `with`: it gives the trace context the event carries.

    Its parent is the current span (a request's server span, a reaction's event span) or else the context the
    command was given (a command run outside any span: a seed, a timer)."""
    context = None
    if trace_context and not trace.get_current_span().get_span_context().is_valid:
        parent = _span_context(trace_context)
        if parent.is_valid:
            context = trace.set_span_in_context(trace.NonRecordingSpan(parent))
    named = _APPEND_SPAN_NAMES.get(event_type)
    if named is None:
        named = _APPEND_SPAN_NAMES[event_type] = (f"append {event_type}", {"tiaodu.event.type": event_type})
    name, attributes = named
    return AppendSpan(tracer().start_span(name, context=context, kind=trace.SpanKind.PRODUCER, attributes=attributes))


ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


# FastAPI's own instrumentation would open a second server span per request beside TracingMiddleware's (which is the
# one events carry) and record metrics nobody reads: a tenth of a command's CPU, measured with py-spy.
FASTAPI_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


class TracingMiddleware:
    """A server span per HTTP request, continuing the caller's W3C trace context when it sends one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        name = f"{scope['method']} {scope['path']}"
        started = time.perf_counter()
        span = tracer().start_span(name, context=caller_context(scope), kind=trace.SpanKind.SERVER)
        with CurrentSpan(span):

            async def send_wrapper(message: Any) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self.app(scope, receive, send_wrapper)
        if scope["method"] not in READS:
            observe_command(scope, time.perf_counter() - started)


READS = frozenset({"GET", "HEAD", "OPTIONS"})
# The installed propagator and the request headers it reads (ASGI gives header names lower-cased).
_PROPAGATED: tuple[object, frozenset[bytes]] = (None, frozenset())


_NO_CALLER = otel_context.Context()  # a request's span without a caller's trace context is a root span


def caller_context(scope: dict[str, Any]) -> otel_context.Context:
    """The caller's context as the installed propagator (W3C trace context by default, OTEL_PROPAGATORS) extracts
    it from the request's headers: only the headers it reads are decoded, and none is looked at without one."""
    global _PROPAGATED
    propagator = get_global_textmap()
    if _PROPAGATED[0] is not propagator:
        _PROPAGATED = (propagator, frozenset(name.lower().encode("latin-1") for name in propagator.fields))
    fields = _PROPAGATED[1]
    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ()) if k in fields}
    return extract(carrier) if carrier else _NO_CALLER


# (service, method, route) -> the histogram's child for it: `labels()` checks and joins its label values on every
# call; a service has a few dozen operations.
_COMMAND_SERIES: dict[tuple[str, str, str], Any] = {}


def observe_command(scope: dict[str, Any], seconds: float) -> None:
    """One histogram observation per command, labelled by the route's template (never the raw path: its ids would
    make a series per aggregate); requests no route took are not commands."""
    route = scope.get("route")
    runtime = getattr(getattr(scope.get("app"), "state", None), "runtime", None)
    if route is None or runtime is None:
        return
    key = (runtime.service, scope["method"], route.path)
    series = _COMMAND_SERIES.get(key)
    if series is None:
        series = _COMMAND_SERIES[key] = COMMAND_SECONDS.labels(runtime.service, f"{scope['method']} {route.path}")
    series.observe(seconds)


# The correlation id of the request or event being handled, for the logs (set by shared.web and event_span).
CORRELATION_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ms), level, service, replica, logger, message, and, when known, the
    current trace and span ids and the correlation id; extra fields a call passes (seq, partition) too."""

    EXTRA = ("seq", "partition")

    def __init__(self, service: str, replica: str = "") -> None:
        super().__init__()
        self.service = service
        # As shared.settings names the replica when REPLICA_ID is unset.
        self.replica = replica or os.environ.get("REPLICA_ID") or f"{service}-{socket.gethostname()}-{os.getpid()}"

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "replica": self.replica,
            "logger": record.name,
            "message": record.getMessage(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            doc["trace_id"] = format(span_context.trace_id, "032x")
            doc["span_id"] = format(span_context.span_id, "016x")
        correlation = getattr(record, "correlation_id", None) or CORRELATION_ID.get()
        if correlation:
            doc["correlation_id"] = correlation
        for key in self.EXTRA:
            if hasattr(record, key):
                doc[key] = getattr(record, key)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def log_config(service: str) -> dict[str, Any]:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter, "service": service}},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["stdout"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    }
