"""intake's reactions (shared.reactions): events that cause intake commands.

`change_requests`: an approved change request (变更申请) is applied to its project, cancel / suspend / resume as a
phase change and new planned dates or investment as an amendment, each carrying the request's id. The event id is
derived from the approval's, so a redelivery, a restart or a second replica applies it exactly once. A milestone's
date is scheduling's to move (its own reaction to the same approval).
"""

from __future__ import annotations

from services.intake.domain_change_requests import APPLIED_BY_INTAKE, decide_apply
from services.intake.read_model import PROJECTS
from shared.catalogue.intake import ChangeRequestApproved
from shared.commands import execute
from shared.reactions import Cause, Reaction
from shared.runtime import Runtime
from shared.verification import payload_as

CHANGE_REQUESTS = "change_requests"


async def apply_approved_change(rt: Runtime, cause: Cause) -> None:
    approved = payload_as(cause.event, ChangeRequestApproved)
    if approved.kind not in APPLIED_BY_INTAKE:
        return
    request_id = cause.event.envelope.aggregate_id
    # Loaded from the project's row plus its events after it: the log's state, whatever the read model lags.
    await execute(
        pool=rt.pool, store=rt.store, schema=rt.schema, spec=PROJECTS, aggregate_id=approved.project_id,
        decide=lambda project: decide_apply(project, approved, request_id), context=cause.context,
        event_id=cause.event_id(), cache=rt.cache,
    )  # fmt: skip


def change_requests() -> Reaction:
    # From the beginning: every approval in the log must have had its effect, also one approved before a deployment.
    return Reaction(CHANGE_REQUESTS, {"ChangeRequestApproved": apply_approved_change}, start="beginning")
