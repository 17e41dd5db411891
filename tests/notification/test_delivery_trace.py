"""A delivery continues the trace of what requested the notification (ADR 0035): the channel's attempt is a span
under the request's append span, and the attempt's events are appended in the same trace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from shared.telemetry import tracer
from tests.notification.channels.conftest import Answer, Receiver, receiver
from tests.notification.channels.test_mail import Mailbox, SmtpServer, serve
from tests.notification.conftest import Platform
from tests.notification.delivery_helpers import reaches, request, webhook_point

__all__ = ["receiver"]  # the receiver fixture, used by name


@pytest.fixture(autouse=True)
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    for server in serve(Mailbox()):
        monkeypatch.setenv("TIAODU_SMTP_URL", server.url)
        yield server


async def test_a_delivery_attempt_is_a_span_in_the_trace_of_its_request(
    platform: Platform, receiver: Receiver, spans: InMemorySpanExporter
) -> None:
    receiver.script = [Answer(200, "ok")]
    await webhook_point(platform, "unit-b", receiver)
    await platform.synced()
    delivered_before = _delivered()
    with tracer().start_as_current_span("caller") as caller:
        nid = await request(platform, "unit-b")
    trace_id = caller.get_span_context().trace_id
    await reaches(platform, nid, "delivered")
    mine = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]

    def named(name: str) -> list[int]:
        return [s.context.span_id for s in mine if s.name == name]

    [requested] = named("append NotificationRequested")
    deliver = [s for s in mine if s.name == "deliver webhook"]
    assert deliver and all(s.parent is not None and s.parent.span_id == requested for s in deliver), deliver
    for step in ("append DeliveryAttempted", "append NotificationDelivered"):
        parents = [s.parent.span_id for s in mine if s.name == step and s.parent is not None]
        assert parents == [requested], (step, parents)
    assert _delivered() == delivered_before + 1


def _delivered() -> float:
    labels = {"channel": "webhook", "outcome": "delivered"}
    return REGISTRY.get_sample_value("tiaodu_deliveries_total", labels) or 0.0
