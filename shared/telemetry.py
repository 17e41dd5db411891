"""Telemetry defaults every service shares: OpenTelemetry tracer provider and JSON logs with correlation ids."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi.telemetry import TelemetryConfig
from opentelemetry import metrics, trace
from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.envelope import TRACE_CONTEXT_KEYS
from shared.settings import Settings


def setup_telemetry(service: str, settings: Settings) -> None:
    """Install a tracer provider once per process; spans go to the console exporter when OTEL_TRACES_CONSOLE=1."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.instance.id": settings.replica_id})
    )
    if os.environ.get("OTEL_TRACES_CONSOLE") == "1":
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
    carrier: dict[str, str] = {}
    _TRACE_CONTEXT.inject(carrier)
    return {k: v for k, v in carrier.items() if k in TRACE_CONTEXT_KEYS}


@contextmanager
def consumer_span(name: str, contexts: Sequence[Mapping[str, str]], **attributes: Any) -> Iterator[trace.Span]:
    """A span for work caused by events (a projection batch), linked to each causing request's trace."""
    links = []
    for carrier in contexts:
        span_context = trace.get_current_span(extract(dict(carrier))).get_span_context()
        if span_context.is_valid:
            links.append(trace.Link(span_context))
    with tracer().start_as_current_span(name, kind=trace.SpanKind.CONSUMER, links=links, attributes=attributes) as span:
        yield span


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
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        name = f"{scope['method']} {scope['path']}"
        with tracer().start_as_current_span(name, context=extract(headers), kind=trace.SpanKind.SERVER) as span:
            status: dict[str, int] = {}

            async def send_wrapper(message: Any) -> None:
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self.app(scope, receive, send_wrapper)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("correlation_id", "seq", "partition"):
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
