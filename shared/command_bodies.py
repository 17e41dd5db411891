"""What every service's commands share: strict request bodies, ids taken from the path, and the whole command built
from a body plus those ids (`command_from`).

A route validates the body (`...Body`, what the OpenAPI document shows) and builds the command its handler takes,
the ids from the URL path included, with one call.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from shared.domain_errors import NotFound

# An id taken from the URL path: never stripped (' p1' is not 'p1'), and only what can name an aggregate.
PathId = Annotated[str, StringConstraints(strip_whitespace=False, pattern=r"^[A-Za-z0-9_-]{1,128}$")]


class Strict(BaseModel):
    """A request body: unknown fields are refused (a misspelt field is an error, not silently ignored)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


C = TypeVar("C", bound=BaseModel)


def command_from(command: type[C], body: BaseModel, **path_ids: str) -> C:
    """The whole command: the body's fields as the client sent them, plus the ids from the path.

    FastAPI validated the body already. An id from the path that cannot name anything is refused as not found,
    the way an id that names nothing is.
    """
    fields = {name: getattr(body, name) for name in body.model_fields_set}
    try:
        return command.model_validate({**fields, **path_ids})
    except ValidationError as exc:
        bad = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"] and e["loc"][0] in path_ids})
        if not bad:
            raise
        raise NotFound("对象不存在", field=bad[0], reason="不是有效的编号") from None
