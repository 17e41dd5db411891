"""An approved change request (变更申请) on a plan, free of I/O: the milestone's re-baseline it causes.

intake owns change requests; when hq approves one that moves a milestone, scheduling's reaction re-baselines the
milestone with this decision: the same checks as a direct re-baseline, plus that the plan is the project's own
(the request names a plan, and a unit's request must never move another project's milestone).
"""

from __future__ import annotations

from services.scheduling.commands import Rebaseline
from services.scheduling.domain import PlanState, decide_rebaseline, must_exist
from shared.catalogue.intake import ChangeRequestApproved
from shared.catalogue.scheduling import MilestoneRebaselined
from shared.domain_errors import Conflict, invalid


def decide_approved_rebaseline(
    state: PlanState | None, approved: ChangeRequestApproved, change_request_id: str
) -> MilestoneRebaselined:
    plan = must_exist(state)
    if plan.project_id != approved.project_id:
        raise Conflict(
            f"实施方案 {plan.id} 不属于项目 {approved.project_id}", field="plan_id", reason="不是该项目的实施方案"
        )
    if approved.milestone_id is None or approved.to_date is None:
        raise invalid("milestone_id", "调整节点日期须给出节点与新日期")
    cmd = Rebaseline(
        plan_id=plan.id,
        milestone_id=approved.milestone_id,
        to_date=approved.to_date,
        reason=f"变更申请 {change_request_id} 已批准:{approved.reason}"[:1000],  # a plan's reasons hold 1000
    )
    event = decide_rebaseline(plan, cmd)
    return event.model_copy(update={"change_request_id": change_request_id})
