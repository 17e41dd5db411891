"""Trace context flows from the HTTP request through the event to the projection batch that applies it."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import INVALID_SPAN_CONTEXT, NonRecordingSpan, SpanContext, StatusCode, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from services.intake.bootstrap import create_app
from shared.settings import Settings
from shared.telemetry import (
    CORRELATION_ID,
    CurrentSpan,
    JsonFormatter,
    append_span,
    caller_context,
    current_trace_context,
    trace_context_of,
    tracer,
)
from tests.platform import auth, bootstrap_and_wait, running, runtime_of

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT = Path(__file__).resolve().parents[2]


async def test_request_trace_reaches_the_event_and_the_projection(
    settings: Settings, spans: InMemorySpanExporter
) -> None:
    app = create_app(settings)
    async with running(app) as client:
        rt = runtime_of(app)
        tokens = await bootstrap_and_wait(rt)
        spans.clear()
        headers = auth(tokens["hq"], traceparent=f"00-{TRACE_ID}-00f067aa0ba902b7-01")
        r = await client.post("/v1/programmes", json={"id": "prog", "name": "计划", "year": 2024}, headers=headers)
        assert r.status_code == 201
        assert await rt.runner.wait_for(r.json()["seq"], 5)
        event = (await rt.store.read_aggregate("programme", "prog"))[0].envelope
        assert event.trace_context["traceparent"].split("-")[1] == TRACE_ID
        finished = spans.get_finished_spans()
        server = [s for s in finished if s.name == "POST /v1/programmes"]
        assert server and format(server[0].context.trace_id, "032x") == TRACE_ID
        # server span -> append span (whose context the event carries) -> the projection batch that applies it
        [append] = [s for s in finished if s.name == "append ProgrammeRegistered"]
        assert append.parent is not None and append.parent.span_id == server[0].context.span_id
        assert event.trace_context["traceparent"].split("-")[2] == format(append.context.span_id, "016x")
        projection = [s for s in finished if s.name == "project intake" and s.context.trace_id == int(TRACE_ID, 16)]
        assert projection and projection[0].parent is not None
        assert projection[0].parent.span_id == append.context.span_id
        assert append.context.span_id in {link.context.span_id for link in projection[0].links}


def test_json_log_lines_carry_the_trace_span_and_correlation_ids(spans: InMemorySpanExporter) -> None:
    formatter = JsonFormatter("intake", replica="intake-7")
    record = logging.LogRecord("tiaodu.test", logging.WARNING, __file__, 1, "已处理 %s", ("事件",), None)
    outside = json.loads(formatter.format(record))
    assert {"trace_id", "span_id", "correlation_id"}.isdisjoint(outside)
    token = CORRELATION_ID.set("corr-1")
    try:
        with tracer().start_as_current_span("work") as span:
            inside = json.loads(formatter.format(record))
    finally:
        CORRELATION_ID.reset(token)
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert inside["correlation_id"] == "corr-1"
    assert (inside["service"], inside["replica"], inside["level"], inside["message"]) == (
        "intake", "intake-7", "WARNING", "已处理 事件",
    )  # fmt: skip
    assert inside["time"].endswith("+00:00")


def test_the_trace_context_an_event_carries_is_what_the_w3c_propagator_writes() -> None:
    """shared.telemetry formats `traceparent`/`tracestate` itself (no detour through a carrier): byte for byte the
    propagator's, for sampled and unsampled spans, with and without a trace state; nothing for no span."""
    for flags in (TraceFlags.DEFAULT, TraceFlags.SAMPLED):
        for state in (TraceState(), TraceState([("vendor", "v1"), ("other", "x-2")])):
            context = SpanContext(int(TRACE_ID, 16), 0x00F067AA0BA902B7, False, TraceFlags(flags), state)
            injected: dict[str, str] = {}
            TraceContextTextMapPropagator().inject(injected, trace.set_span_in_context(NonRecordingSpan(context)))
            assert trace_context_of(context) == injected
    assert trace_context_of(INVALID_SPAN_CONTEXT) == {}
    assert current_trace_context() == {}  # no current span


def test_a_request_span_continues_only_what_the_caller_s_trace_headers_say(spans: InMemorySpanExporter) -> None:
    parent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    headers = [(b"authorization", b"Bearer x"), (b"traceparent", parent.encode()), (b"tracestate", b"vendor=v1")]
    continued = trace.get_current_span(caller_context({"headers": headers})).get_span_context()
    assert (format(continued.trace_id, "032x"), continued.trace_state.to_header()) == (TRACE_ID, "vendor=v1")
    with tracer().start_as_current_span("ambient"):  # a request without one is a root span, whatever is current
        root = caller_context({"headers": [(b"authorization", b"Bearer x")]})
        assert not trace.get_current_span(root).get_span_context().is_valid


def test_a_current_span_is_the_parent_inside_and_records_the_exception_that_leaves_it(
    spans: InMemorySpanExporter,
) -> None:
    spans.clear()
    with pytest.raises(ValueError, match="坏了"), CurrentSpan(tracer().start_span("outer")) as outer:
        with append_span("ProgressReported", None) as carried:
            assert carried == current_trace_context()  # the append span's own context is what the event carries
        raise ValueError("坏了")
    assert not trace.get_current_span().get_span_context().is_valid  # detached again
    finished = {s.name: s for s in spans.get_finished_spans()}
    append, done = finished["append ProgressReported"], finished["outer"]
    assert append.parent is not None and append.parent.span_id == outer.get_span_context().span_id
    assert dict(append.attributes or {}) == {"tiaodu.event.type": "ProgressReported"}
    assert carried["traceparent"].split("-")[2] == format(append.context.span_id, "016x")
    assert done.status.status_code == StatusCode.ERROR
    assert [e.name for e in done.events] == ["exception"]


SAMPLING_PROBE = """
from shared.settings import Settings
from shared.telemetry import append_span, setup_telemetry, tracer
setup_telemetry("intake", Settings(nats_url="nats://127.0.0.1:1", database_url="postgresql://x/y"))
span = tracer().start_span("probe")
with append_span("ProjectRegistered", None) as carried:
    pass
print(span.is_recording(), span.get_span_context().is_valid, int(carried["traceparent"].split("-")[3], 16) & 1)
"""


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "False True 0"),  # no exporter: ids made and carried, nothing recorded
        ({"OTEL_TRACES_CONSOLE": "1"}, "True True 1"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}, "True True 1"),
        ({"OTEL_TRACES_SAMPLER": "always_on"}, "True True 1"),  # the standard variable decides when set
    ],
)
def test_spans_are_recorded_only_where_something_exports_them(env: dict[str, str], expected: str) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", SAMPLING_PROBE], env={**clean, **env, "PYTHONPATH": str(ROOT)}, capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == expected  # (the console exporter prints the spans after it)
