"""Typed answers: what every JSON answer of the API is documented as, so that a unit's developer can generate a
client from the OpenAPI document.

A route declares its answer model as its return type; FastAPI then documents it, checks what the route returns
against it and writes it (pydantic-core, straight to JSON bytes). Answer models forbid fields they do not name: an
answer that grew a field the model lacks fails the suite loudly instead of silently losing the field, and the
document says `additionalProperties: false`, so a client knows it has the whole shape. Money in answers is
`shared.money.Money` (the same decimal string a client sent), dates are dates, enums are enums.

The one hot path (a progress report, ~1,000/s) writes its small answer itself (shared.direct_commands) and documents
it with `responses=`: a response model there would validate and serialise the answer a second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json
from starlette.responses import Response

if TYPE_CHECKING:
    from shared.commands import Outcome

# Exactly the fields a model names, each always present (a field with a default is still answered: required).
ANSWER_CONFIG = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class Answer(BaseModel):
    """The base of every answer model (an answer extending a domain state sets `ANSWER_CONFIG` itself)."""

    model_config = ANSWER_CONFIG


class Written(Answer):
    """What a write answers (shared.web.written): the object, its new version (also the ETag) and the event's
    position in the log, which a later read may wait for with `min_seq`."""

    id: str = Field(description="对象编号")
    version: int = Field(ge=0, description="写入后的版本号(同 ETag;下次修改时作为 If-Match)")
    seq: int = Field(ge=0, description="事件流序号(读操作可带 min_seq 等待读模型同步到此)")


def documented(model: type[BaseModel], description: str) -> dict[str, Any]:
    """A `responses=` entry for a route that writes its answer itself: the schema of what it writes."""
    return {"model": model, "description": description}


@dataclass(frozen=True)
class CommandAnswer:
    """A command's answer, the same whichever route gave it: status, a flat JSON body, headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        return Response(to_json(self.body), status_code=self.status, media_type="application/json",
                        headers=self.headers)  # fmt: skip


def written_answer(outcome: Outcome, status: int = 200, *, location: str | None = None, **extra: Any) -> CommandAnswer:
    """A write's answer: `{id, version, seq}` plus extras, the new version as ETag (shared.web.written sets it on a
    FastAPI route's response; a direct route answers it as it is)."""
    headers = {"ETag": f'"{outcome.version}"'}
    if location is not None:
        headers["Location"] = location
    return CommandAnswer(status, {**outcome.body(), **extra}, headers)
