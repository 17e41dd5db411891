"""National codes (项目代码) as claims, free of I/O: an aggregate `project_code` per (code, programme year).

Uniqueness checked against the read model lags, so two concurrent registrations could both pass it. The claim
is appended under optimistic concurrency instead: whoever appends to the code's subject first holds it, and the
other decides again on the new state and is refused (docs/adr/0009-national-code-claims.md).

A claim and the project it names are two appends, so a claim can outlive an interrupted registration or
amendment. Such a claim is idempotent for its own project (a retry with the same Idempotency-Key targets the same
project id and simply goes on), and another project may take it over once it is older than the grace period and
its holder, as the log says, does not carry the code.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel

from services.intake.commands import ClaimProjectCode, ReleaseProjectCode
from services.intake.domain import Changes, fold
from shared.catalogue.intake import ProjectCodeClaimed, ProjectCodeReleased
from shared.domain_errors import Conflict
from shared.envelope import Envelope

# Long enough that a registration is never overtaken between its two appends in practice (they are
# milliseconds apart); short enough that an orphaned claim does not keep a code from the office for long.
CLAIM_GRACE = timedelta(minutes=10)


def claim_id(code: str, year: int) -> str:
    """The aggregate id of a code's claim in one programme year: digits, dashes and '_', a valid subject token."""
    return f"{code}_{year}"


class ProjectCodeState(BaseModel):
    id: str
    code: str
    year: int
    project_id: str | None  # None once released
    claimed_at: datetime


def evolve_project_code(
    state: ProjectCodeState | None, envelope: Envelope, payload: BaseModel | None = None
) -> ProjectCodeState:
    def create(p: ProjectCodeClaimed) -> ProjectCodeState:
        return ProjectCodeState(
            id=envelope.aggregate_id, code=p.code, year=p.year, project_id=p.project_id, claimed_at=envelope.recorded_at
        )

    changes: Changes[ProjectCodeState] = {
        ProjectCodeClaimed: lambda _, p: {"project_id": p.project_id, "claimed_at": envelope.recorded_at},
        ProjectCodeReleased: lambda _, p: {"project_id": None},
    }
    return fold(state, envelope, create, ProjectCodeClaimed, changes, payload)


def code_taken(code: str, year: int, holder: str, *, pending: bool) -> Conflict:
    """409 naming `code` and the project that holds it (also in the body as `holder`)."""
    if pending:
        detail = f"全国投资项目代码 {code} 在 {year} 年度已被项目 {holder} 占用(该项目正在登记或修改中)"
        reason = f"{year} 年度已被项目 {holder} 占用(登记或修改中)"
    else:
        detail = f"全国投资项目代码 {code} 在 {year} 年度已被项目 {holder} 使用"
        reason = f"{year} 年度已被项目 {holder} 使用"
    return Conflict(detail, field="code", reason=reason, holder=holder)


def decide_claim_code(
    state: ProjectCodeState | None,
    cmd: ClaimProjectCode,
    *,
    checked_holder: str | None,
    holder_carries_code: bool,
    now: datetime,
    grace: timedelta = CLAIM_GRACE,
) -> ProjectCodeClaimed | None:
    """Claim a code for a project. `holder_carries_code` is what the log said of `checked_holder` just before.

    None when the project holds the claim already (a retry, or an amendment that keeps its code).
    """
    claim = ProjectCodeClaimed(code=cmd.code, year=cmd.year, project_id=cmd.project_id)
    if state is None or state.project_id is None:
        return claim
    holder = state.project_id
    if holder == cmd.project_id:
        return None
    if now - state.claimed_at < grace:
        # Its holder may be between its two appends: refuse, never overtake a registration in flight.
        raise code_taken(cmd.code, cmd.year, holder, pending=not holder_carries_code or holder != checked_holder)
    if holder != checked_holder or holder_carries_code:
        raise code_taken(cmd.code, cmd.year, holder, pending=False)
    return claim.model_copy(update={"taken_over_from": holder})


def decide_release_code(state: ProjectCodeState | None, cmd: ReleaseProjectCode) -> ProjectCodeReleased | None:
    """Give a code up after the project's amendment to another one; nothing to do if it holds no claim on it."""
    if state is None or state.project_id != cmd.project_id:
        return None
    return ProjectCodeReleased(project_id=cmd.project_id)
