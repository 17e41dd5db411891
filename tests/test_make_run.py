"""`make run` end to end: every service as its own process behind the gateway, demo data seeded via the API."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import nats.errors
import pytest

from shared.catalogue.ownership import SERVICES
from shared.devstack.embedded import Server
from shared.devstack.stack import RUN_LAYOUT, Stack


async def _services_run_restricted(stack: Stack, users: dict[str, dict[str, str]]) -> None:
    """Each running service is connected as its own user, and that user cannot touch the stream's limits."""
    varz = [line for line in (stack.run_dir / "nats" / "nats.conf").read_text().splitlines() if "user:" in line]
    assert len(varz) == len(users)
    for child in stack.services:
        assert child.proc.poll() is None
        user = users[child.name]
        nc = await nats.connect(stack.nats_url, user=user["user"], password=user["password"])
        try:
            js = nc.jetstream(timeout=1)
            info = await js.stream_info("E2E")
            info.config.max_msgs = 1
            with pytest.raises(nats.errors.TimeoutError):  # a denied request is never answered
                await js.update_stream(info.config)
        finally:
            await nc.close()
    with pytest.raises(nats.errors.Error):  # no anonymous access either
        await nats.connect(stack.nats_url, max_reconnect_attempts=0, allow_reconnect=False, connect_timeout=2)


async def _first_scheduled_run_keeps_every_colour(
    stack: Stack, client: httpx.AsyncClient, hq: dict[str, str], demo: dict[str, Any]
) -> None:
    """The demo lives on its own clock (demo.json names it): the seed ran 30 September's monitoring; the timer's
    next period is 1 October 06:00 on that clock. Moved there, the scheduled run keeps lights of every colour."""
    assert demo["clock"]["simulated"] is True and demo["clock"]["now_at_start"].startswith("2024-09-30T")
    r = await client.get("/v1/clock", headers=hq)
    assert r.status_code == 200, r.text
    assert r.json()["date"] == "2024-09-30" and r.json()["simulated"] is True
    r = await client.post("/v1/clock/advance", json={"days": 1, "hours": 2}, headers=hq)
    assert r.status_code == 200 and r.json()["date"] == "2024-10-01", r.text
    [scheduling] = [child for child in stack.services if child.name == "scheduling"]
    deadline = asyncio.get_running_loop().time() + 60
    while True:  # the timer's run of 1 October, as scheduling reports the periods it ran
        status = (await client.get(f"{scheduling.url}/projection/scheduling")).json()
        if {"timer": "daily_monitoring", "period": "2024-10-01"} in status["timers"]:
            break
        assert asyncio.get_running_loop().time() < deadline, status
        await asyncio.sleep(0.2)
    r = await client.get("/v1/monitoring/days/2024-10-01", headers=hq)
    assert r.status_code == 200, r.text
    lights = (await client.get("/v1/lights", params={"programme_id": "demo-2024-sanshi"}, headers=hq)).json()["items"]
    assert {p["light"]["colour"] for p in lights if p["light"]} == {"green", "yellow", "red"}
    assert all(p["light"]["reasons"] for p in lights if p["light"] and p["light"]["colour"] != "green")


async def _issues_of_the_demo(client: httpx.AsyncClient, hq: dict[str, str], tokens: dict[str, Any]) -> None:
    """issue_coordination's seed: issues at every status of the lifecycle, raised by the demo units, open ones at
    every level of the ladder, and the decisions of a dispatch meeting tracked as items (through the reaction, on the
    services' own NATS users); scheduling's light names the issue at the mayor's level and the open 督办 order; the
    mayor's own token sees that issue and no other."""
    r = await client.get("/v1/issues", params={"limit": 500}, headers=hq)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert {"raised", "assigned", "accepted", "resolved", "confirmed"} <= {i["status"] for i in items}
    assert sum(i["origin"] == "meeting_decision" for i in items) == 2
    assert any(i["reopen_count"] == 1 for i in items)
    open_issues = [i for i in items if i["status"] in {"assigned", "accepted"}]
    assert {i["level"] for i in open_issues} == {"lead_unit", "hq", "leader", "mayor"}  # every rung of the ladder
    at_mayor = next(i for i in open_issues if i["level"] == "mayor")
    light = (await client.get(f"/v1/projects/{at_mayor['project_id']}/light", headers=hq)).json()
    assert light["issues"]["colour"] == "red", light
    assert any(at_mayor["id"] in reason and "已上报至市长" in reason for reason in light["issues"]["reasons"]), light
    orders = (await client.get("/v1/supervision-orders", headers=hq)).json()["items"]
    [order] = [o for o in orders if o["status"] != "closed"]
    light = (await client.get(f"/v1/projects/{order['project_id']}/light", headers=hq)).json()
    assert any(order["id"] in reason and "督办单" in reason for reason in light["issues"]["reasons"]), light
    # The mayor (the rules' mayor_org_id, a demo organisation with a token) sees what was escalated to it, only that.
    mayor = {"Authorization": f"Bearer {tokens['leaders']['mayor']}"}
    r = await client.get("/v1/issues", params={"level": "mayor"}, headers=mayor)
    assert r.status_code == 200, r.text
    assert at_mayor["id"] in {i["id"] for i in r.json()["items"]}
    seen = (await client.get("/v1/issues", params={"limit": 500}, headers=mayor)).json()["items"]
    assert {i["id"] for i in seen} == {i["id"] for i in items if "mayor" in i["escalated_to"]}
    others = [i["id"] for i in open_issues if "mayor" not in i["escalated_to"]]
    assert others and {(await client.get(f"/v1/issues/{i}", headers=mayor)).status_code for i in others} == {403}


async def _attachment_round_trip(client: httpx.AsyncClient, hq: dict[str, str], project_id: str) -> None:
    """Through the gateway, with intake under its own NATS user: a 2 MB photo (over the 1 MB limit of other bodies)
    goes into the object store and comes back the same."""
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8192
    r = await client.post(
        "/v1/attachments", params={"project_id": project_id, "name": "现场照片.png"}, content=photo,
        headers={**hq, "content-type": "image/png"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    r = await client.get(f"/v1/attachments/{r.json()['id']}", headers=hq)
    assert r.status_code == 200 and r.content == photo, r.text[:300]


async def _seeded_issues_were_delivered(stack: Stack) -> None:
    """The notification seed gave the contact points before issue coordination's seed ran: a newcomer finds that
    seed's issues already delivered at the receiver (the lead units' webhooks, verified), not only in the inboxes.
    (E-mail is checked by _deliveries_reach_the_demo_receiver: hq and supervision, who prefer it, are told of a
    light only when it turns red, and the demo's lights turned before the contact points existed.)"""
    assert stack.receiver is not None
    async with httpx.AsyncClient(base_url=stack.receiver.child.url, timeout=10) as receiver:
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            items = (await receiver.get("/received")).json()["items"]
            assigned = [i for i in items if i["channel"] == "webhook" and i["title"].startswith("问题交办:")]
            if assigned:
                break
            assert asyncio.get_running_loop().time() < deadline, items
            await asyncio.sleep(0.5)
    assert all(i["verified"] for i in items if i["channel"] == "webhook"), items


async def _deliveries_reach_the_demo_receiver(
    stack: Stack, client: httpx.AsyncClient, hq: dict[str, str], demo: dict[str, Any]
) -> None:
    """make run's receiver: the seed pointed every demo organisation's webhook at it (with secrets it verifies) and
    the notification service's SMTP at its sink. hq assigns a raised demo issue to a unit (webhook first, the
    default) with a co-handler that prefers e-mail: the receiver verifies the one and takes the other, and its page
    lists both."""
    assert stack.receiver is not None and demo["receiver"]["url"] == stack.receiver.child.url
    secrets_file = stack.run_dir / "receiver" / "webhook-secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600 and set(demo["tokens"]["units"]) <= set(
        json.loads(secrets_file.read_text())
    )
    lead, co_handler = list(demo["tokens"]["units"])[:2]
    email_first = {"channels": {u: ["email", "webhook"] for u in ("info", "normal", "urgent", "critical")}}
    r = await client.put("/v1/preferences", json={"org_id": co_handler, "preferences": email_first}, headers=hq)
    assert r.status_code == 200, r.text
    pref_seq = r.json()["seq"]
    issues = (await client.get("/v1/issues", params={"status": "raised", "limit": 1}, headers=hq)).json()["items"]
    assert issues, "the demo keeps a raised issue"
    r = await client.get("/v1/preferences", params={"org_id": co_handler, "min_seq": pref_seq}, headers=hq)
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/issues/{issues[0]['id']}/assignment",
                          json={"lead_unit_id": lead, "co_handler_ids": [co_handler]}, headers=hq)  # fmt: skip
    assert r.status_code == 200, r.text
    async with httpx.AsyncClient(base_url=stack.receiver.child.url, timeout=10) as receiver:
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            items = (await receiver.get("/received")).json()["items"]
            webhooks = [i for i in items if i["channel"] == "webhook" and i["org"] == lead]
            mails = [i for i in items if i["channel"] == "email" and i["org"] == co_handler]
            if webhooks and mails:
                break
            assert asyncio.get_running_loop().time() < deadline, items
            await asyncio.sleep(0.2)
        assert all(i["verified"] for i in webhooks), webhooks
        assert not [i for i in items if not i["verified"]], items
        page = (await receiver.get("/")).text
        assert "演示接收端" in page and "已验证" in page and "电子邮件" in page
        assert webhooks[0]["title"] in page and mails[0]["title"] in page
        forged = await receiver.post(f"/webhooks/{lead}", content=b"{}", headers={
            "webhook-id": "msg_x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"})  # fmt: skip
        assert forged.status_code == 401
        # Listed, unverified, among the platform's deliveries still arriving (the demo keeps notifying).
        listed = (await receiver.get("/received")).json()["items"]
        assert [i["verified"] for i in listed if i["channel"] == "webhook" and i["detail"] == "签名不符"] == [False]


async def _demo_bundle_verifies(stack: Stack, client: httpx.AsyncClient, tokens: dict[str, Any], folder: Path) -> None:
    """audit's seed sealed the demo history: the auditor downloads the demo programme's bundle and the offline
    verifier, given the published key, accepts it; the signing key stays in `.run/`, readable by its owner only."""
    assert stat.S_IMODE((stack.run_dir / "audit-signing-key").stat().st_mode) == 0o600
    auditor = {"Authorization": f"Bearer {tokens['auditor']}"}
    seals = (await client.get("/v1/audit/seals", headers=auditor)).json()
    assert seals["total"] >= 1
    key = (await client.get("/v1/audit/public-key", headers=auditor)).json()["keys"][0]["public_key"]
    r = await client.get("/v1/audit/exports", params={"programme_id": "demo-2024-sanshi"}, headers=auditor,
                         timeout=120)  # fmt: skip
    assert r.status_code == 200, r.text
    (folder / "bundle.json").write_bytes(r.content)
    command = [sys.executable, str(stack.root / "tools" / "verify_bundle.py"), str(folder / "bundle.json"),
               "--trusted-key", key]  # fmt: skip
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("OK: "), done.stdout + done.stderr


@pytest.mark.timeout(900)  # the seed lives the demo's nine months on its clock, day by day (docs/adr/0017)
async def test_stack_seeds_demo_once_and_keeps_data_across_restarts(
    servers: tuple[Server, Server], tmp_path: Path
) -> None:
    _, pg_server = servers
    conn = await asyncpg.connect(pg_server.url)
    await conn.execute("CREATE DATABASE e2e")
    await conn.close()
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"NATS_URL", "DATABASE_URL"} and not k.startswith("NATS_")},
        # No NATS_URL: the stack starts its own NATS with a user per service, as `make run` does, and every
        # service runs under its own restricted user, which proves the grants suffice.
        "DATABASE_URL": pg_server.url.rsplit("/", 1)[0] + "/e2e",
        "TIAODU_STREAM": "E2E",
        "TIAODU_SUBJECT_PREFIX": "e2e",
    }
    stack = await asyncio.to_thread(Stack(run_dir=tmp_path / "run", env=env).start)
    try:
        demo_file = tmp_path / "run" / "demo.json"
        demo = json.loads(demo_file.read_text())
        assert demo["base_url"] == stack.base_url
        assert stat.S_IMODE(demo_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "run" / "nats" / "nats.conf").stat().st_mode) == 0o600
        users = demo["nats"]["users"]
        assert set(users) == {*SERVICES, "admin"} and demo["nats"]["url"] == stack.nats_url
        await _services_run_restricted(stack, users)
        tokens = demo["tokens"]
        assert {"hq", "auditor", "units"} <= set(tokens) and len(tokens["units"]) >= 5
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
            hq = {"Authorization": f"Bearer {tokens['hq']}"}
            r = await client.get("/v1/projects", params={"limit": 200}, headers=hq)
            assert r.status_code == 200, r.text
            projects = r.json()["items"]
            assert r.json()["total"] == 30
            by_category = {
                c: sum(p["category"] == c for p in projects) for c in ("industrial", "infrastructure", "livelihood")
            }
            assert by_category == {"industrial": 10, "infrastructure": 10, "livelihood": 10}
            assert all(p["demo"] and "演示" in p["name"] for p in projects)
            unit_id, unit_token = next(iter(tokens["units"].items()))
            r = await client.get("/v1/projects", headers={"Authorization": f"Bearer {unit_token}"})
            assert r.json()["items"] and {p["unit_id"] for p in r.json()["items"]} == {unit_id}
            lights = (await client.get("/v1/lights", params={"programme_id": "demo-2024-sanshi"}, headers=hq)).json()[
                "items"
            ]
            assert {p["light"]["colour"] for p in lights if p["light"]} == {"green", "yellow", "red"}
            assert all(p["light"]["reasons"] for p in lights if p["light"] and p["light"]["colour"] != "green")
            report = await client.get("/v1/programmes/demo-2024-sanshi/weekly-report", headers=hq)
            assert report.status_code == 200 and report.content[:2] == b"PK"  # a DOCX (zip) file
            spec = (await client.get("/openapi.json")).json()
            assert "/v1/projects/{project_id}/light" in spec["paths"] and "/v1/plans" in spec["paths"]
            assert "/v1/projects/{project_id}/progress-reports" in spec["paths"]
            r = await client.get("/v1/projects", headers={"Authorization": f"Bearer {tokens['auditor']}"})
            assert r.status_code == 200
            await _first_scheduled_run_keeps_every_colour(stack, client, hq, demo)
            await _attachment_round_trip(client, hq, projects[0]["id"])
            await _issues_of_the_demo(client, hq, tokens)
            await _seeded_issues_were_delivered(stack)
            await _deliveries_reach_the_demo_receiver(stack, client, hq, demo)
            await _demo_bundle_verifies(stack, client, tokens, tmp_path)
            r = await client.post(
                "/v1/programmes",
                json={"name": "x", "year": 2024},
                headers={"Authorization": f"Bearer {tokens['auditor']}"},
            )
            assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")
    finally:
        await asyncio.to_thread(stack.stop)
    # A second start keeps the data and the tokens, and seeds nothing again.
    stack = await asyncio.to_thread(Stack(run_dir=tmp_path / "run", env=env).start)
    try:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
            r = await client.get("/v1/projects", headers={"Authorization": f"Bearer {tokens['hq']}"})
            assert r.status_code == 200 and r.json()["total"] == 30
        # The receiver is back where the seeded webhook contact points point.
        assert stack.receiver is not None and stack.receiver.child.url == demo["receiver"]["url"]
    finally:
        await asyncio.to_thread(stack.stop)


def test_a_data_folder_of_an_older_layout_is_set_aside_not_reused(tmp_path: Path) -> None:
    """Read models of an older layout would not match the log `make run` now keeps: they move aside, untouched."""
    run_dir = tmp_path / ".run"
    (run_dir / "pg").mkdir(parents=True)
    (run_dir / "demo.json").write_text("{}", encoding="utf-8")
    stack = Stack(run_dir=run_dir, demo=False, env={})
    stack._set_aside_older_layout()
    [aside] = [p for p in tmp_path.iterdir() if p.name.startswith(".run.old-")]
    assert (aside / "demo.json").read_text(encoding="utf-8") == "{}" and not run_dir.exists()
    run_dir.mkdir()
    (run_dir / "LAYOUT").write_text(f"{RUN_LAYOUT}\n", encoding="utf-8")
    (run_dir / "demo.json").write_text("{}", encoding="utf-8")
    stack._set_aside_older_layout()  # the current layout stays where it is
    assert (run_dir / "demo.json").exists()
