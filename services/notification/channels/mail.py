"""E-mail over SMTP (aiosmtplib). One connection per message: notifications are few, and a fresh connection never
inherits a half-broken session. Subjects and bodies are UTF-8 (RFC 2047 / 8-bit-safe transfer encodings)."""

from __future__ import annotations

import hashlib
import re
import ssl
from collections.abc import Mapping
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from services.notification.channels.common import Attempt, Message, Outcome, Recorder, Stopwatch

DEFAULT_FROM = "调度平台 <noreply@tiaodu.localhost>"
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+|[^@\s<>]+@localhost")
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
StartTls = Literal["auto", "require", "off"]
_STARTTLS_MODES: dict[str, StartTls] = {"auto": "auto", "require": "require", "off": "off"}


class SmtpSettings(BaseModel):
    """Where mail goes: TIAODU_SMTP_URL, e.g. `smtp://user:pass@mail.example:587?starttls=require`,
    `smtps://mail.example` (TLS from the first byte, port 465), `smtp://127.0.0.1:1025` (development);
    query options `starttls=auto|require|off`, `timeout=<seconds>`, `ca=<file>`, `verify=false` (development only).
    TIAODU_SMTP_FROM is the sender."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    implicit_tls: bool = False
    starttls: StartTls = "auto"
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = 15.0
    ca_file: str | None = None
    verify_certificates: bool = True
    sender: str = DEFAULT_FROM

    @classmethod
    def from_url(cls, url: str, *, sender: str = DEFAULT_FROM) -> SmtpSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("TIAODU_SMTP_URL: smtp://host[:port] or smtps://host[:port] expected")
        options = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        implicit_tls = parts.scheme == "smtps"
        starttls = _STARTTLS_MODES.get(options.get("starttls", "off" if implicit_tls else "auto"))
        if starttls is None:
            raise ValueError("TIAODU_SMTP_URL: starttls must be auto, require or off")
        try:
            timeout_s = float(options.get("timeout", 15.0))
        except ValueError as exc:
            raise ValueError("TIAODU_SMTP_URL: timeout must be a number of seconds") from exc
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit_tls else 25),
            implicit_tls=implicit_tls,
            starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=SecretStr(unquote(parts.password)) if parts.password else None,
            timeout_s=timeout_s,
            ca_file=options.get("ca"),
            verify_certificates=options.get("verify", "true").lower() != "false",
            sender=sender,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmtpSettings:
        return cls.from_url(
            env.get("TIAODU_SMTP_URL", "smtp://127.0.0.1:1025"), sender=env.get("TIAODU_SMTP_FROM", DEFAULT_FROM)
        )


class EmailEndpoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: Literal["email"] = "email"
    address: str = Field(max_length=254)
    name: str | None = Field(default=None, max_length=100)

    @field_validator("address")
    @classmethod
    def _addr_spec(cls, value: str) -> str:
        if not _ADDRESS.fullmatch(value):
            raise ValueError("须为电子邮件地址 (an e-mail address is required)")
        return value


def message_id(idempotency_key: str, sender: str) -> str:
    """The same key gives the same Message-ID, so a resend is a duplicate a mail system can recognise."""
    local = (
        idempotency_key if _ATOM.fullmatch(idempotency_key) else hashlib.sha256(idempotency_key.encode()).hexdigest()
    )
    domain = Address(addr_spec=sender_address(sender)).domain or "tiaodu.localhost"
    return f"<{local}@{domain}>"


def sender_address(sender: str) -> str:
    return sender.rsplit("<", 1)[-1].rstrip(">").strip()


def compose(
    message: Message, endpoint: EmailEndpoint, *, sender: str, idempotency_key: str, now: datetime
) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.labelled_title
    mail["From"] = sender
    mail["To"] = Address(display_name=endpoint.name or "", addr_spec=endpoint.address)
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = message_id(idempotency_key, sender)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders stay quiet
    text = message.body
    if message.link:
        text += f"\n\n查看详情:{message.link}"
    mail.set_content(text + "\n\n——\n此邮件由调度平台自动发送,请勿直接回复。\n", charset="utf-8")
    return mail


class EmailChannel:
    name = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    async def send(self, message: Message, endpoint: EmailEndpoint, *, idempotency_key: str, now: datetime) -> Attempt:
        smtp = self._settings
        password = smtp.password.get_secret_value() if smtp.password else None
        record = Recorder(self.name, idempotency_key, now, (password,) if password else ())
        mail = compose(message, endpoint, sender=smtp.sender, idempotency_key=idempotency_key, now=now)
        watch = Stopwatch()
        try:
            _, answer = await aiosmtplib.send(
                mail,
                hostname=smtp.host,
                port=smtp.port,
                username=smtp.username,
                password=password,
                use_tls=smtp.implicit_tls,
                start_tls={"auto": None, "require": True, "off": False}[smtp.starttls],
                validate_certs=smtp.verify_certificates,
                cert_bundle=smtp.ca_file,
                timeout=smtp.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0]
            return record(
                *_reply_verdict(refused.code), status=refused.code, response=refused.message, latency_ms=watch.ms
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            outcome, code = _reply_verdict(exc.code)
            code = "smtp_auth_failed" if outcome is Outcome.PERMANENT else code
            return record(outcome, code, status=exc.code, response=exc.message, latency_ms=watch.ms)
        except aiosmtplib.SMTPResponseException as exc:
            return record(*_reply_verdict(exc.code), status=exc.code, response=exc.message, latency_ms=watch.ms)
        except aiosmtplib.SMTPNotSupported as exc:
            return record(Outcome.PERMANENT, "smtp_unsupported", response=str(exc), latency_ms=watch.ms)
        except aiosmtplib.SMTPTimeoutError as exc:
            return record(Outcome.RETRYABLE, "peer_timeout", response=str(exc), latency_ms=watch.ms)
        except (aiosmtplib.SMTPException, OSError) as exc:
            if isinstance(exc, ssl.SSLError) or isinstance(exc.__cause__, ssl.SSLError):
                # An untrusted certificate or a failed handshake: configuration, which retrying will not change.
                return record(Outcome.PERMANENT, "smtp_tls_failed", response=str(exc), latency_ms=watch.ms)
            return record(Outcome.RETRYABLE, "smtp_unreachable", response=str(exc), latency_ms=watch.ms)
        # aiosmtplib returns the DATA reply's text only; it raises for every code but 250.
        return record(Outcome.DELIVERED, "delivered", status=250, response=answer, latency_ms=watch.ms)


def _reply_verdict(code: int) -> tuple[Outcome, str]:
    """RFC 5321: 4yz is a transient negative reply, 5yz a permanent one."""
    if 400 <= code < 500:
        return Outcome.RETRYABLE, "smtp_temporary"
    return Outcome.PERMANENT, "smtp_rejected"
