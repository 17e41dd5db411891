"""The delivery log and the dead letters over HTTP (paths fixed by issue 10): hq and the auditor read every
recipient's, an organisation its own; only hq resends a dead letter (same idempotency key, a new round)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response

from services.notification import handlers_deliveries, policies, queries_deliveries
from services.notification.period_filter import PATTERN, period_span
from services.notification.responses import Written
from services.notification.responses_deliveries import (
    AttemptOutcomeView,
    DeadLetterView,
    DeliveryAttemptView,
    ResendBody,
    attempt_view,
    dead_letter_view,
)
from shared.auth import Principal
from shared.catalogue.notification import Channel
from shared.domain_errors import Forbidden
from shared.paging import Page, PagingDep
from shared.web import MetaDep, MinSeqDep, PrincipalDep, RuntimeDep, written

router = APIRouter(prefix="/v1", tags=["deliveries"])

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
RecipientQuery = Annotated[
    str | None, Query(pattern=ID_PATTERN, description="接收机构(指挥部办公室、审计可查任一机构;其他机构只能查本机构)")
]


def _recipient(principal: Principal, org_id: str | None) -> str | None:
    """hq and the auditor see every recipient unless they name one; anyone else sees its own."""
    if org_id is None and principal.role in policies.READS_ALL:
        return None
    return policies.readable_org(principal, org_id)


@router.get("/deliveries", summary="投递记录(每次尝试:渠道、结果、对方应答;按接收方、渠道、结果、时段筛选)",
            dependencies=[MinSeqDep])  # fmt: skip
async def list_deliveries(
    rt: RuntimeDep,
    principal: PrincipalDep,
    paging: PagingDep,
    recipient: RecipientQuery = None,
    channel: Annotated[Channel | None, Query(description="渠道")] = None,
    outcome: Annotated[AttemptOutcomeView | None, Query(description="结果")] = None,
    period: Annotated[
        str | None, Query(pattern=PATTERN, description="时段(中国时间):2024-03-01、2024-03 或 2024-W10")
    ] = None,
    notification_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,80}$", description="通知编号")] = None,
) -> Page[DeliveryAttemptView]:
    start, end = period_span(period) if period else (None, None)
    filters = queries_deliveries.AttemptFilters(
        org_id=_recipient(principal, recipient), channel=channel and channel.value, outcome=outcome and outcome.value,
        start=start, end=end, notification_id=notification_id,
    )  # fmt: skip
    rows, total = await queries_deliveries.list_attempts(
        rt.pool, rt.schema, filters, limit=paging.limit, offset=paging.offset
    )
    return Page(items=[attempt_view(r) for r in rows], total=total, **paging.echo())


@router.get("/dead-letters", summary="死信:所有渠道均未送达的通知及原因(指挥部办公室、审计)", dependencies=[MinSeqDep])
async def list_dead_letters(
    rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep, recipient: RecipientQuery = None
) -> Page[DeadLetterView]:
    if principal.role not in policies.READS_ALL:
        raise Forbidden("只有指挥部办公室和审计可以查看死信")
    rows, total = await queries_deliveries.list_dead_letters(
        rt.pool, rt.schema, recipient, limit=paging.limit, offset=paging.offset
    )
    return Page(items=[dead_letter_view(r) for r in rows], total=total, **paging.echo())


@router.post("/dead-letters/{notification_id}/resend", status_code=202, summary="重发死信(幂等键不变,接收方可据此去重)")
async def resend_dead_letter(
    notification_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,80}$", description="通知编号")],
    rt: RuntimeDep,
    meta: MetaDep,
    response: Response,
    body: Annotated[ResendBody | None, Body()] = None,
) -> Written:
    outcome = await handlers_deliveries.resend(rt, notification_id, (body or ResendBody()).note, meta)
    location = f"/v1/deliveries?notification_id={notification_id}"
    return Written(**written(outcome, response, 202, location=location))
