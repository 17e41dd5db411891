"""The inbox's live stream (Server-Sent Events) over a real HTTP server: a new notification arrives on it; a client
that reconnects with Last-Event-ID gets exactly what it missed, nothing twice; heartbeats come well inside the
gateway's read timeout; the OpenAPI document names text/event-stream so the gateway routes it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from services.gateway.haproxy_config import TIMEOUT_SERVER
from services.notification.bootstrap import create_app as create_notification
from services.notification.stream import HEARTBEAT_S
from shared.settings import Settings
from tests.gateway_upstreams import start_upstream
from tests.notification.conftest import DEADLINE, Platform


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """The events of a text/event-stream answer (comments, i.e. heartbeats, skipped)."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


async def next_notification(events: AsyncIterator[dict[str, str]]) -> tuple[int, dict[str, Any]]:
    async with asyncio.timeout(15):
        async for event in events:
            if event.get("event") == "notification":
                return int(event["id"]), json.loads(event["data"])
    raise AssertionError("the stream ended")


async def test_a_new_notification_arrives_and_a_reconnect_resumes_after_the_last(
    platform: Platform, settings: Settings
) -> None:
    project_id = await platform.project(name="焦作智能装备产业园")
    issue_id = await platform.raise_issue(project_id)
    replica = create_notification(dataclasses.replace(settings, replica_id="stream-1"), clock=platform.clock)
    server = await start_upstream(replica)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            async with client.stream("GET", "/v1/inbox/stream", headers=platform.h("unit-b")) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                events = sse_events(response)
                await platform.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": DEADLINE})
                first_id, first = await next_notification(events)
            assert first["rule_id"] == "issue-assigned" and first["seq"] == first_id and first["org_id"] == "unit-b"

            # While the client is away: the escalation, and a second issue assigned to it.
            await platform.act(issue_id, "escalations", "hq", {"reason": "需指挥部办公室协调", "to_level": "hq"})
            second_issue = await platform.raise_issue(project_id)
            await platform.act(second_issue, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": DEADLINE})
            await platform.synced()
            headers = platform.h("unit-b", **{"Last-Event-ID": str(first_id)})
            async with client.stream("GET", "/v1/inbox/stream", headers=headers) as response:
                events = sse_events(response)
                missed = [await next_notification(events), await next_notification(events)]
            # Two issues, so possibly two partitions, each routed by its own reaction: which of the two notifications
            # is recorded first is not fixed. The stream gives them in the order they were recorded.
            got = sorted((n["rule_id"], n["link_id"]) for _, n in missed)
            assert got == sorted([("issue-escalated", issue_id), ("issue-assigned", second_issue)])
            ids = [first_id, *(i for i, _ in missed)]
            assert ids == sorted(set(ids)), ids  # in order, none twice

            bad = await client.get("/v1/inbox/stream", headers=platform.h("unit-b", **{"Last-Event-ID": "abc"}))
            assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "Last-Event-ID"
            other = await client.get("/v1/inbox/stream", params={"org_id": "unit-a"}, headers=platform.h("unit-b"))
            assert other.status_code == 403
    finally:
        await server.stop()


async def test_heartbeats_inside_the_gateway_timeout_and_documented_as_event_stream(platform: Platform) -> None:
    assert HEARTBEAT_S * 3 <= int(TIMEOUT_SERVER.removesuffix("s"))
    document = (await platform.notification.get("/openapi.json")).json()
    answer = document["paths"]["/v1/inbox/stream"]["get"]["responses"]["200"]
    assert list(answer["content"]) == ["text/event-stream"]
