"""Trace context flows from the HTTP request through the event to the projection batch that applies it."""

from __future__ import annotations

import json
import logging

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.intake.bootstrap import create_app
from shared.settings import Settings
from shared.telemetry import CORRELATION_ID, JsonFormatter, tracer
from tests.platform import auth, bootstrap_and_wait, running, runtime_of

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


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
