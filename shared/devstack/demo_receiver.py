"""The demo's receiving end, a dev tool of `make run` (not a platform service; the gateway does not route it): what a
unit's own system and its mail server would be, so that a newcomer sees the notification service deliver.

    python -m shared.devstack.demo_receiver   # DEMO_RECEIVER_PORT, DEMO_SMTP_PORT, DEMO_RECEIVER_SECRETS

- `POST /webhooks/{org}`: Standard Webhooks, verified with the org's secret (the notification seed writes the
  secrets it set into DEMO_RECEIVER_SECRETS, a private JSON file under `.run/`); an unverified one is answered 401
  and listed as such.
- An SMTP sink (aiosmtpd) on DEMO_SMTP_PORT: the notification service's TIAODU_SMTP_URL in `make run`.
- `GET /` lists what arrived, newest first (plain HTML, in Chinese); `GET /received` the same as JSON.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email
import email.policy
import hashlib
import hmac
import html
import json
import os
import threading
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

KEPT = 1000  # what the page keeps: the newest arrivals
WEBHOOK_SECRET_PREFIX = "whsec_"


@dataclass(frozen=True)
class Arrival:
    received_at: str  # this receiver's own (wall) time: it is a peer, not the platform
    channel: str  # webhook | email
    org: str
    title: str
    verified: bool
    detail: str  # why not verified, or the idempotency key (webhook-id, Message-ID)


class Arrivals:
    """Shared by the HTTP handlers and the SMTP sink."""

    def __init__(self) -> None:
        self._items: deque[Arrival] = deque(maxlen=KEPT)
        self._lock = threading.Lock()

    def add(self, channel: str, org: str, title: str, verified: bool, detail: str) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._items.append(Arrival(now, channel, org, title, verified, detail))

    def newest_first(self) -> list[Arrival]:
        with self._lock:
            return list(reversed(self._items))


def signature_ok(secret: str, msg_id: str, timestamp: str, body: bytes, signatures: str) -> bool:
    """The Standard Webhooks check of `v1,<base64 HMAC-SHA256 of id.timestamp.body>` (any of the space-separated
    signatures). Written out rather than the standardwebhooks library's `verify`: that one also refuses a timestamp
    five minutes away from the wall clock, and the demo platform stamps its messages on the demo clock (2024)."""
    try:
        key = base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
    except binascii.Error:
        return False
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return True
    return False


def read_secrets(path: Path | None) -> dict[str, str]:
    """org -> webhook secret, as the seed wrote them (read at each webhook: the seed runs after we start)."""
    if path is None or not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _title(body: bytes) -> str:
    try:
        data = json.loads(body)
        return str(data["data"]["title"])
    except (ValueError, KeyError, TypeError):
        return "(无法解析的内容)"


def webhook_app(arrivals: Arrivals, secrets_file: Path | None) -> Starlette:
    async def webhook(request: Request) -> Response:
        org = request.path_params["org"]
        body = await request.body()
        msg_id = request.headers.get("webhook-id", "")
        secret = read_secrets(secrets_file).get(org)
        if secret is None:
            verified, detail = False, "未知机构或尚无密钥"
        elif not signature_ok(secret, msg_id, request.headers.get("webhook-timestamp", ""), body,
                              request.headers.get("webhook-signature", "")):  # fmt: skip
            verified, detail = False, "签名不符"
        else:
            verified, detail = True, msg_id
        arrivals.add("webhook", org, _title(body), verified, detail)
        return Response(status_code=204 if verified else 401)

    async def received(request: Request) -> JSONResponse:
        items = [asdict(a) for a in arrivals.newest_first()]
        return JSONResponse({"items": items, "total": len(items)})

    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse(render_page(arrivals.newest_first()))

    async def ready(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/webhooks/{org}", webhook, methods=["POST"]),
            Route("/received", received),
            Route("/readyz", ready),
            Route("/", page),
        ]
    )


CHANNEL_LABELS = {"webhook": "Webhook", "email": "电子邮件"}


def render_page(items: list[Arrival]) -> str:
    rows = "".join(
        "<tr>"
        f"<td>{html.escape(a.received_at)}</td><td>{CHANNEL_LABELS.get(a.channel, html.escape(a.channel))}</td>"
        f"<td>{html.escape(a.org)}</td><td>{html.escape(a.title)}</td>"
        f"<td>{'已验证' if a.verified else '未验证:' + html.escape(a.detail)}</td>"
        "</tr>"
        for a in items
    )
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>演示接收端</title>'
        '<meta http-equiv="refresh" content="5"></head><body>'
        f"<h1>演示接收端:已收到 {len(items)} 条(最新在前)</h1>"
        "<table border=1 cellpadding=4><tr><th>收到时间</th><th>渠道</th><th>机构</th><th>标题</th><th>签名</th></tr>"
        f"{rows}</table></body></html>"
    )


class MailSink:
    """aiosmtpd's handler: every message is accepted and listed; the org is the recipient's local part (the demo
    seed's addresses are `<org>@demo.tiaodu.local`)."""

    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        message = email.message_from_bytes(data, policy=email.policy.default)
        for rcpt in envelope.rcpt_tos:
            org = rcpt.split("@", 1)[0]
            self.arrivals.add("email", org, str(message.get("subject", "")), True, str(message.get("message-id", "")))
        return "250 OK"


@asynccontextmanager
async def smtp_sink(arrivals: Arrivals, port: int) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    handler = MailSink(arrivals)
    server = await loop.create_server(
        lambda: SMTP(handler, enable_SMTPUTF8=True, hostname="demo-receiver"), "127.0.0.1", port
    )
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


async def serve(http_port: int, smtp_port: int, secrets_file: Path | None) -> None:
    arrivals = Arrivals()
    config = uvicorn.Config(
        webhook_app(arrivals, secrets_file), host="127.0.0.1", port=http_port, log_level="warning", lifespan="off"
    )
    async with smtp_sink(arrivals, smtp_port):
        await uvicorn.Server(config).serve()


def main() -> None:
    secrets = os.environ.get("DEMO_RECEIVER_SECRETS")
    asyncio.run(
        serve(
            int(os.environ["DEMO_RECEIVER_PORT"]), int(os.environ["DEMO_SMTP_PORT"]), Path(secrets) if secrets else None
        )
    )


if __name__ == "__main__":
    main()
