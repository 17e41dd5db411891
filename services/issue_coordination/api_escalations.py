"""`GET /v1/issues/{id}/escalations`: the steps an issue climbed on the ladder (逐级上报), in the order recorded.

Each step is an `IssueEscalated` event of the issue's timeline (read model), shown with who took it (the ladder, its
deadline missed, or hq by hand), the deadline it gave and the rule and calendar versions behind that deadline.
Whoever may read the issue (GET /v1/issues/{id}) may read its steps. hq's escalation by hand (the POST) is in
api_rules.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from services.issue_coordination.api import IssueId, readable_issue, timeline_as_of
from services.issue_coordination.read_model import ISSUES
from shared.catalogue.issue_coordination import DeadlineSource, IssueEscalated, IssueLevel
from shared.paging import Page, PagingDep, page_of
from shared.time_travel import AsOfDep
from shared.web import MinSeqDep, PrincipalDep, RuntimeDep

router = APIRouter(prefix="/v1", tags=["issues"])


class EscalatedBy(StrEnum):
    LADDER = "ladder"  # 期限届满仍未办结,按逐级上报规则升级(定时任务或指挥部办公室执行某日的升级)
    HQ = "hq"  # 指挥部办公室手动升级


class EscalationView(BaseModel):
    seq: int = Field(description="事件流序号")
    from_level: IssueLevel = Field(description="升级前层级:lead_unit 责任单位、hq 指挥部办公室、leader 包保市领导")
    to_level: IssueLevel = Field(description="升级后层级:hq 指挥部办公室、leader 包保市领导、mayor 市长")
    target_org_id: str | None = Field(description="升级到的包保市领导或市长所在机构(升级到指挥部办公室时为空)")
    reason: str = Field(description="升级理由")
    by: EscalatedBy = Field(description="升级方式:ladder 期限届满按规则升级 / hq 指挥部办公室手动升级")
    actor_org_id: str = Field(description="记录升级的机构(定时任务为平台,执行升级或手动升级的为指挥部办公室)")
    actor_role: str = Field(description="记录升级的机构的角色")
    recorded_at: datetime = Field(description="记录时间")
    missed_deadline: datetime | None = Field(description="已过的原期限(手动在期限前升级时为空)")
    deadline: datetime = Field(description="新层级的办理期限")
    deadline_since: datetime = Field(description="新期限的起算时刻(原期限届满时,或手动升级时)")
    deadline_source: DeadlineSource = Field(description="期限来源:rules 按规则计算 / hq 人工指定")
    rule_version: int | None = Field(description="计算新期限所用的期限规则版本")
    calendar_version: int | None = Field(description="计算新期限所用的工作日历版本")


def escalation_view(row: Mapping[str, Any]) -> EscalationView:
    step = IssueEscalated.model_validate_json(row["payload"])
    return EscalationView(
        seq=row["seq"], from_level=step.from_level, to_level=step.to_level, target_org_id=step.target_org_id,
        reason=step.reason, by=EscalatedBy.HQ if step.manual else EscalatedBy.LADDER,
        actor_org_id=row["actor_org_id"], actor_role=row["actor_role"], recorded_at=row["recorded_at"],
        missed_deadline=step.missed_deadline, deadline=step.deadline, deadline_since=step.deadline_since,
        deadline_source=step.deadline_source, rule_version=step.rule_version, calendar_version=step.calendar_version,
    )  # fmt: skip


@router.get("/issues/{issue_id}/escalations",
            summary="问题的逐级上报记录(每一步的层级、理由、升级方式与新期限;可查历史时刻 as_of)",
            description="给出 as_of 时为历史视图:截至该时刻已记录的升级步骤(由事件日志读出);该时刻问题尚不存在时返回"
            " 404;谁可查看按现行问题信息判断。", dependencies=[MinSeqDep])  # fmt: skip
async def list_escalations(
    issue_id: IssueId, rt: RuntimeDep, principal: PrincipalDep, paging: PagingDep, as_of: AsOfDep, response: Response
) -> Page[EscalationView]:
    await readable_issue(rt, principal, issue_id)
    if as_of is not None:
        timeline = await timeline_as_of(rt, ISSUES.aggregate_type, issue_id, as_of, response, noun="问题")
        steps = [row for row in timeline if row["type"] == "IssueEscalated"]
        return page_of(EscalationView, [escalation_view(r) for r in paging.cut(steps)], len(steps), paging)
    where = f"FROM {rt.schema}.issue_timeline WHERE issue_id = $1 AND type = 'IssueEscalated'"
    total = await rt.pool.fetchval(f"SELECT count(*) {where}", issue_id)
    rows = await rt.pool.fetch(
        f"SELECT seq, recorded_at, actor_org_id, actor_role, payload {where} ORDER BY seq LIMIT $2 OFFSET $3",
        issue_id, paging.limit, paging.offset,
    )  # fmt: skip
    items = [escalation_view(r) for r in rows]
    return page_of(EscalationView, items, int(total), paging)
