"""Errors a pure decision raises. They know nothing of HTTP; the edge (shared.problems) maps each kind to a status
and a problem+json body naming the field and the reason."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A command the domain refuses. `detail` is for people (Simplified Chinese); `field`/`reason` for clients."""

    status = 422

    def __init__(self, detail: str, *, field: str | None = None, reason: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.reason = reason or detail
        self.extra = extra


class Invalid(DomainError):
    """The command contradicts the rules (a date out of order, an unknown milestone)."""

    status = 422


class NotFound(DomainError):
    """The command names something that does not exist."""

    status = 404


class Conflict(DomainError):
    """The command is at odds with the current state (already exists, wrong phase, overlaps)."""

    status = 409


class Forbidden(DomainError):
    """The actor may not do this to this object."""

    status = 403


def invalid(field: str, reason: str) -> Invalid:
    return Invalid(f"{field}: {reason}", field=field, reason=reason)


def conflict(field: str, reason: str) -> Conflict:
    return Conflict(f"{field}: {reason}", field=field, reason=reason)


def not_found(field: str, reason: str) -> NotFound:
    return NotFound(f"{field}: {reason}", field=field, reason=reason)
