"""One shape for every list an API answers: `{items, total, limit, offset}`, paged by `limit` and `offset`.

A route takes `PagingDep` and answers `page_of(Model, items, total, paging)`, a `Page[Model]`; its OpenAPI document then
says the same for every list (tests/contract walks it), and no endpoint answers a bare array.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from shared.responses import ANSWER_CONFIG

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

MAX_LIMIT = 500
MAX_OFFSET = 1_000_000_000  # PostgreSQL's OFFSET is int8; beyond this nobody pages


class Page(BaseModel, Generic[T]):
    """A page of a list: the items, how many match in all, and the paging that was applied."""

    model_config = ANSWER_CONFIG
    items: list[T] = Field(description="本页条目")
    total: int = Field(ge=0, description="符合条件的总条数(不受分页影响)")
    limit: int = Field(ge=1, description="每页条数")
    offset: int = Field(ge=0, description="跳过条数")


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int

    def echo(self) -> dict[str, int]:
        return {"limit": self.limit, "offset": self.offset}

    def cut(self, items: list[Any]) -> list[Any]:
        """This page of a list held in memory (short lists: rule versions)."""
        return items[self.offset : self.offset + self.limit]


def page_of(model: type[M], items: Sequence[Any], total: int, paging: Paging) -> Page[M]:
    """A typed page: `items` (answers, or the dicts of answers) validated once into `model`."""
    page: Page[M] = Page[model].model_validate(  # type: ignore[valid-type]
        {"items": items, "total": total, **paging.echo()}
    )
    return page


def paging(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="每页条数")] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="跳过条数")] = 0,
) -> Paging:
    return Paging(limit=limit, offset=offset)


PagingDep = Annotated[Paging, Depends(paging)]
