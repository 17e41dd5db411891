"""A plan as it was known at a moment: what a report dated D says of milestones and exemptions (docs/adr/0017).

The plan's read-model row holds its state now; each change that a report of an earlier date must not see carries
when it was recorded (`recorded_at`, the platform clock): a milestone's completion, its re-baselines, an exemption's
decision. A change recorded after `known_at` is undone here. State folded before those times were kept has none
(None, or fewer re-baseline times than re-baselines): that change is taken as known, as it was before (a rebuild of
the read model fills them in).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from services.scheduling.domain import ExemptionState, MilestoneState, PlanState


@dataclass(frozen=True)
class KnownMilestone:
    milestone_id: str
    name: str
    unit_id: str
    planned_date: date  # the date in force then (a re-baseline recorded later not yet applied)
    done_on: date | None  # None: not known to be done then


def _recorded_by(at: datetime | None, known_at: datetime) -> bool:
    return at is None or at <= known_at


def milestone_as_known(m: MilestoneState, known_at: datetime) -> KnownMilestone:
    planned = m.planned_date
    # Undo the re-baselines recorded after `known_at`, newest first (those without a time are older than any with
    # one: the times are kept for the latest re-baselines only when the state was folded partly before).
    untimed = len(m.rebaselines) - len(m.rebaselined_at)
    for rebaseline, at in reversed(list(zip(m.rebaselines[untimed:], m.rebaselined_at, strict=True))):
        if at > known_at:
            planned = rebaseline.from_date
    done = m.done_on if m.done_on is not None and _recorded_by(m.done_recorded_at, known_at) else None
    return KnownMilestone(m.milestone_id, m.name, m.unit_id, planned, done)


def milestones_as_known(plan: PlanState, known_at: datetime) -> list[KnownMilestone]:
    return [milestone_as_known(m, known_at) for m in plan.milestones]


def granted_by(e: ExemptionState, known_at: datetime) -> bool:
    """An exemption approved by `known_at` (one approved later was still requested then)."""
    return e.status == "approved" and _recorded_by(e.decided_at, known_at)
