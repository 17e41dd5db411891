"""make run's demo receiver in-process: it verifies the platform's own webhook signature (the notification channel's
`signature`) with the org's secret, lists an unverified post as such, and takes Chinese e-mail through its SMTP sink
(aiosmtplib, the client the notification service uses)."""

from __future__ import annotations

import json
import socket
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx

from services.notification.channels.webhook import new_webhook_secret, signature
from shared.devstack.demo_receiver import Arrivals, smtp_sink, webhook_app
from shared.devstack.demo_receiver_process import receiver_ports
from shared.devstack.embedded import free_port


async def test_verified_and_forged_webhooks_and_an_email_are_listed_newest_first(tmp_path: Path) -> None:
    secret = new_webhook_secret()
    secrets_file = tmp_path / "webhook-secrets.json"
    secrets_file.write_text(json.dumps({"unit-a": secret}))
    arrivals = Arrivals()
    body = json.dumps({"type": "IssueAssigned", "data": {"title": "问题交办:焦作智能装备产业园"}}).encode()
    signed = {"webhook-id": "ntf-1", "webhook-timestamp": "1727640000",  # on the demo clock: 2024, not today
              "webhook-signature": signature(secret, "ntf-1", 1727640000, body)}  # fmt: skip
    transport = httpx.ASGITransport(app=webhook_app(arrivals, secrets_file))
    async with httpx.AsyncClient(transport=transport, base_url="http://receiver") as client:
        assert (await client.post("/webhooks/unit-a", content=body, headers=signed)).status_code == 204
        tampered = await client.post("/webhooks/unit-a", content=body + b" ", headers=signed)
        assert tampered.status_code == 401
        assert (await client.post("/webhooks/unit-z", content=body, headers=signed)).status_code == 401
        port = free_port()
        async with smtp_sink(arrivals, port):
            mail = EmailMessage()
            mail["From"], mail["To"], mail["Subject"] = "tiaodu@demo.tiaodu.local", "hq@demo.tiaodu.local", "项目亮红灯"
            mail.set_content("正文")
            await aiosmtplib.send(mail, hostname="127.0.0.1", port=port, start_tls=False)
        items = (await client.get("/received")).json()["items"]
        assert [(i["channel"], i["org"], i["verified"]) for i in items] == [
            ("email", "hq", True), ("webhook", "unit-z", False), ("webhook", "unit-a", False),
            ("webhook", "unit-a", True),
        ]  # fmt: skip
        assert items[0]["title"] == "项目亮红灯" and items[3]["title"] == "问题交办:焦作智能装备产业园"
        assert items[2]["detail"] == "签名不符" and items[1]["detail"] == "未知机构或尚无密钥"
        page = (await client.get("/")).text
        assert "项目亮红灯" in page and "已验证" in page and "未验证:签名不符" in page
        assert page.index("项目亮红灯") < page.index("问题交办")  # newest first


def test_a_second_make_run_starts_the_receiver_on_the_ports_the_contact_points_name(tmp_path: Path) -> None:
    first = receiver_ports(tmp_path)
    assert receiver_ports(tmp_path) == first  # free again: the same URL the seeded webhooks point at
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", first[0]))
        holder.listen()
        other = receiver_ports(tmp_path)  # taken by another program: fresh ports this time, the saved ones kept
        assert other[0] != first[0]
    assert receiver_ports(tmp_path) == first
    # The last run's receiver closed its connections first: they linger in TIME_WAIT, which must not count as taken.
    with socket.socket() as server, socket.socket() as client:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", first[0]))
        server.listen()
        client.connect(("127.0.0.1", first[0]))
        accepted, _ = server.accept()
        accepted.close()
    assert receiver_ports(tmp_path) == first
