"""The e-mail channel against a real SMTP server (aiosmtpd's Controller: a server thread in the test process)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import pytest
from pydantic import ValidationError

from services.notification.channels.common import Message, Outcome, Urgency
from services.notification.channels.mail import EmailChannel, EmailEndpoint, SmtpSettings
from shared.devstack.embedded import free_port
from tests.notification.channels.conftest import PASSWORD, Mailbox, SmtpServer, serve

MESSAGE = Message(
    title="进度填报缺失:第 38 周",
    body="焦作市某某局:**第 38 周**进度尚未填报,请于今日 18:00 前补报。",
    urgency=Urgency.CRITICAL,
    link="https://tiaodu.example/reports/w38",
)
NOW = datetime(2024, 9, 20, 2, 0, tzinfo=UTC)
TO = EmailEndpoint(address="lianluoyuan@unit.example", name="联络员 王芳")


@pytest.fixture
def smtp_with_login() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    yield from serve(mailbox, authenticator=mailbox.authenticate, auth_required=True, auth_require_tls=False)


def channel(url: str) -> EmailChannel:
    return EmailChannel(SmtpSettings.from_url(url, sender="调度平台 <noreply@tiaodu.example>"))


async def test_chinese_subject_and_body_arrive_as_they_were_written(smtp: SmtpServer) -> None:
    attempt = await channel(smtp.url).send(MESSAGE, TO, idempotency_key="ntf-1.email", now=NOW)

    assert (attempt.outcome, attempt.reason.code, attempt.channel) == (Outcome.DELIVERED, "delivered", "email")
    assert attempt.latency_ms > 0 and (attempt.status, attempt.response) == (250, "Message accepted for delivery")
    [mail] = smtp.mailbox.messages
    assert smtp.mailbox.encrypted == [False]  # starttls=auto, and this server offers none
    assert mail["Subject"] == "【紧急】进度填报缺失:第 38 周"
    assert mail["To"].addresses[0].display_name == "联络员 王芳"
    assert mail["To"].addresses[0].addr_spec == "lianluoyuan@unit.example"
    assert mail["From"].addresses[0].display_name == "调度平台"
    assert mail["Message-ID"] == "<ntf-1.email@tiaodu.example>"
    assert parsedate_to_datetime(mail["Date"]) == NOW  # the injected clock's time, not the wall's
    assert mail.get_content_charset() == "utf-8"
    text = mail.get_content()
    assert MESSAGE.body in text and "查看详情:https://tiaodu.example/reports/w38" in text
    raw_subject = mail.as_bytes().split(b"Subject:", 1)[1].split(b"\n", 1)[0]
    assert raw_subject.isascii() and b"=?utf-8?" in raw_subject  # RFC 2047 on the wire


async def test_a_resend_keeps_the_message_id_and_odd_keys_are_hashed(smtp: SmtpServer) -> None:
    mail_channel = channel(smtp.url)
    for _ in range(2):
        await mail_channel.send(MESSAGE, TO, idempotency_key="ntf-2", now=NOW)
    await mail_channel.send(MESSAGE, TO, idempotency_key="ntf 3/中文", now=NOW)
    first, second, odd = (mail["Message-ID"] for mail in smtp.mailbox.messages)
    assert first == second == "<ntf-2@tiaodu.example>"
    assert odd.startswith("<") and odd.endswith("@tiaodu.example>") and odd.isascii() and " " not in odd


@pytest.mark.parametrize(
    ("stage", "reply", "outcome", "code"),
    [
        ("rcpt", "451 4.3.0 mailbox busy, try later", Outcome.RETRYABLE, "smtp_temporary"),
        ("rcpt", "550 5.1.1 no such user", Outcome.PERMANENT, "smtp_rejected"),
        ("data", "452 4.3.1 insufficient storage", Outcome.RETRYABLE, "smtp_temporary"),
        ("data", "554 5.7.1 message refused", Outcome.PERMANENT, "smtp_rejected"),
    ],
)
async def test_4xx_replies_are_retryable_and_5xx_permanent(
    smtp: SmtpServer, stage: str, reply: str, outcome: Outcome, code: str
) -> None:
    setattr(smtp.mailbox, f"{stage}_reply", reply)
    attempt = await channel(smtp.url).send(MESSAGE, TO, idempotency_key="ntf-4", now=NOW)
    assert (attempt.outcome, attempt.reason.code, attempt.status) == (outcome, code, int(reply[:3]))
    assert reply[4:] in attempt.response
    assert smtp.mailbox.messages == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_credentials_from_the_url_log_in_and_a_wrong_password_is_permanent(
    smtp_with_login: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    host = smtp_with_login.url.removeprefix("smtp://")
    good = f"smtp://tiaodu%40city:{'p%40ss%3Aword%2F%E7%A7%98%E5%AF%86'}@{host}"
    with caplog.at_level(logging.DEBUG):
        delivered = await channel(good).send(MESSAGE, TO, idempotency_key="ntf-5", now=NOW)
        refused = await channel(f"smtp://tiaodu%40city:wrong@{host}").send(
            MESSAGE, TO, idempotency_key="ntf-6", now=NOW
        )
    assert delivered.outcome is Outcome.DELIVERED
    assert smtp_with_login.mailbox.logins[0] == ("tiaodu@city", PASSWORD)
    assert (refused.outcome, refused.reason.code, refused.status) == (Outcome.PERMANENT, "smtp_auth_failed", 535)
    settings = SmtpSettings.from_url(good)
    for text in (caplog.text, delivered.model_dump_json(), refused.model_dump_json(), repr(settings)):
        assert PASSWORD not in text


async def test_a_server_that_is_not_there_is_retryable() -> None:
    attempt = await channel(f"smtp://127.0.0.1:{free_port()}").send(MESSAGE, TO, idempotency_key="ntf-7", now=NOW)
    assert (attempt.outcome, attempt.reason.code) == (Outcome.RETRYABLE, "smtp_unreachable")


def test_settings_from_the_url() -> None:
    plain = SmtpSettings.from_env({"TIAODU_SMTP_URL": "smtp://127.0.0.1:1025"})
    assert (plain.host, plain.port, plain.implicit_tls, plain.starttls, plain.username) == (
        "127.0.0.1", 1025, False, "auto", None
    )  # fmt: skip
    tls = SmtpSettings.from_url("smtps://mail.city.example?timeout=5&ca=/etc/ssl/city.pem")
    assert (tls.port, tls.implicit_tls, tls.starttls, tls.timeout_s, tls.ca_file) == (
        465, True, "off", 5.0, "/etc/ssl/city.pem"
    )  # fmt: skip
    submission = SmtpSettings.from_url("smtp://mail.city.example:587?starttls=require&verify=false")
    assert (submission.starttls, submission.verify_certificates) == ("require", False)
    for bad in ("http://mail.city.example", "smtp://mail.city.example?starttls=maybe", "smtp://m.example?timeout=x"):
        with pytest.raises(ValueError, match="TIAODU_SMTP_URL"):
            SmtpSettings.from_url(bad)


def test_an_endpoint_names_a_bad_address() -> None:
    with pytest.raises(ValidationError) as bad:
        EmailEndpoint(address="not an address")
    assert bad.value.errors()[0]["loc"] == ("address",)
