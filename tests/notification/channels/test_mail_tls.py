"""E-mail over TLS: STARTTLS and implicit TLS (smtps://) against a real SMTP server holding a certificate that the
test issues (openssl), trusted through the URL's `ca` option; an untrusted certificate is a permanent failure."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.notification.channels.common import Message, Outcome
from services.notification.channels.mail import EmailChannel, EmailEndpoint, SmtpSettings
from tests.notification.channels.conftest import Mailbox, SmtpServer, serve

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to issue a cert")

NOW = datetime(2024, 6, 3, 1, 0, tzinfo=UTC)
MESSAGE = Message(title="会议通知:第 23 次调度会", body="6 月 5 日 9:00,市政府 3 楼会议室。")
TO = EmailEndpoint(address="office@unit.example")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.fixture
def starttls_server(certificate: tuple[Path, ssl.SSLContext]) -> Iterator[SmtpServer]:
    yield from serve(Mailbox(), tls_context=certificate[1], require_starttls=True)


@pytest.fixture
def implicit_tls_server(certificate: tuple[Path, ssl.SSLContext]) -> Iterator[SmtpServer]:
    yield from serve(Mailbox(), ssl_context=certificate[1])


def send(url: str) -> EmailChannel:
    return EmailChannel(SmtpSettings.from_url(url, sender="noreply@tiaodu.example"))


async def test_starttls_when_required(starttls_server: SmtpServer, certificate: tuple[Path, ssl.SSLContext]) -> None:
    url = f"{starttls_server.url}?starttls=require&ca={certificate[0]}"
    attempt = await send(url).send(MESSAGE, TO, idempotency_key="tls-1", now=NOW)
    assert attempt.outcome is Outcome.DELIVERED
    assert starttls_server.mailbox.encrypted == [True]
    assert starttls_server.mailbox.messages[0]["Subject"] == MESSAGE.title


async def test_a_server_that_demands_starttls_refuses_plain_mail(starttls_server: SmtpServer) -> None:
    attempt = await send(f"{starttls_server.url}?starttls=off").send(MESSAGE, TO, idempotency_key="tls-2", now=NOW)
    assert (attempt.outcome, attempt.reason.code, attempt.status) == (Outcome.PERMANENT, "smtp_rejected", 530)
    assert starttls_server.mailbox.messages == []


async def test_implicit_tls_with_smtps(
    implicit_tls_server: SmtpServer, certificate: tuple[Path, ssl.SSLContext]
) -> None:
    url = implicit_tls_server.url.replace("smtp://", "smtps://") + f"?ca={certificate[0]}"
    attempt = await send(url).send(MESSAGE, TO, idempotency_key="tls-3", now=NOW)
    assert attempt.outcome is Outcome.DELIVERED
    assert implicit_tls_server.mailbox.encrypted == [True]


async def test_an_untrusted_certificate_is_permanent(implicit_tls_server: SmtpServer) -> None:
    url = implicit_tls_server.url.replace("smtp://", "smtps://")  # the system's CAs do not know the test's cert
    attempt = await send(url).send(MESSAGE, TO, idempotency_key="tls-4", now=NOW)
    assert (attempt.outcome, attempt.reason.code) == (Outcome.PERMANENT, "smtp_tls_failed")
    assert implicit_tls_server.mailbox.messages == []
