"""The figures a report of a date plans against, as known then (docs/adr/0017): a plan's drafted and revised versions
(plan_figures_as_known.py) and a project's planned figures before each amendment (project_figures_as_known.py),
including read models folded before the record times were kept."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from services.scheduling.domain import PlanState
from services.scheduling.plan_figures_as_known import FiguresVersion, plan_in_force
from services.scheduling.project_figures_as_known import planned_as_known, planned_history

JUNE_3, JUNE_9, JUNE_11 = (datetime(2024, 6, d, 2, tzinfo=UTC) for d in (3, 9, 11))

PLAN = PlanState(
    id="p-y2024", project_id="p", year=2024, annual_target_investment=Decimal(2400), yearly_targets="",
    monthly_investment=[Decimal(200)] * 12, milestones=[], drafted_by="unit-a", updated_at=JUNE_11,
)  # fmt: skip
DRAFTED = FiguresVersion(True, Decimal(1200), [Decimal(100)] * 12, JUNE_3)
REVISED = FiguresVersion(False, Decimal(2400), [Decimal(200)] * 12, JUNE_11)


def _figures(plan: PlanState | None) -> tuple[Decimal, Decimal] | None:
    return None if plan is None else (plan.annual_target_investment, plan.monthly_investment[0])


def test_a_plan_has_the_figures_of_its_version_recorded_by_then() -> None:
    assert _figures(plan_in_force(PLAN, [DRAFTED, REVISED], JUNE_9)) == (Decimal(1200), Decimal(100))
    assert _figures(plan_in_force(PLAN, [DRAFTED, REVISED], JUNE_11)) == (Decimal(2400), Decimal(200))
    assert PLAN.annual_target_investment == Decimal(2400)  # the plan itself is left as it is


def test_a_plan_drafted_later_was_not_known() -> None:
    later_draft = FiguresVersion(True, Decimal(2400), [Decimal(200)] * 12, JUNE_11)
    assert plan_in_force(PLAN, [later_draft], JUNE_9) is None


def test_a_plan_folded_before_versions_were_kept_is_taken_as_it_is() -> None:
    assert _figures(plan_in_force(PLAN, [], JUNE_9)) == (Decimal(2400), Decimal(200))
    # Its draft came before the versions were kept, a revision after: before that revision its figures are not
    # known, so it stands as now; from the revision on, exact.
    assert _figures(plan_in_force(PLAN, [REVISED], JUNE_9)) == (Decimal(2400), Decimal(200))


NOW = {"planned_start": date(2024, 7, 1), "planned_completion": date(2025, 12, 31), "total_investment": Decimal(10000),
       "annual_planned_investment": Decimal(6000), "location": "孟州市西虢镇"}  # fmt: skip
REGISTERED = {**NOW, "planned_start": date(2024, 1, 1), "annual_planned_investment": Decimal(4000),
              "location": "马村区"}  # fmt: skip


def test_a_projects_planned_figures_are_those_before_the_first_amendment_recorded_later() -> None:
    # 11 June: investment and start amended (two amendments), then one that changes none of them.
    history = planned_history(REGISTERED, [], {"annual_planned_investment": Decimal(6000)}, JUNE_11)
    after_first = {**REGISTERED, "annual_planned_investment": Decimal(6000)}
    history = planned_history(after_first, history, {"planned_start": date(2024, 7, 1)}, JUNE_11)
    assert planned_history(NOW, history, {"code": "x", "annual_planned_investment": Decimal(6000)}, JUNE_11) == history
    assert len(history) == 2
    assert planned_as_known(NOW, history, JUNE_9) == REGISTERED
    assert planned_as_known(NOW, history, JUNE_11) == NOW
    # Folded before the history was kept: taken as known.
    assert planned_as_known(NOW, [], JUNE_3) == NOW
