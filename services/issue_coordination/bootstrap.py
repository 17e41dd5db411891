"""issue_coordination's composition root: settings, clock, connections, read model, reactions and the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.issue_coordination.api import router
from services.issue_coordination.api_actions import router as actions_router
from services.issue_coordination.api_escalations import router as escalations_router
from services.issue_coordination.api_figures import router as figures_router
from services.issue_coordination.api_rules import router as rules_router
from services.issue_coordination.handlers_rules import ensure_rule_data
from services.issue_coordination.reactions import meeting_decisions
from services.issue_coordination.read_model import IssueReadModel
from services.issue_coordination.read_model_rules import RuleDataReadModel
from services.issue_coordination.supervision_api import router as supervision_router
from services.issue_coordination.supervision_figures import router as supervision_figures_router
from services.issue_coordination.supervision_read_model import SupervisionReadModel
from services.issue_coordination.timers import ESCALATOR, issue_timers
from shared.auth import IdentityReadModel
from shared.clock import Clock
from shared.eventstore import Context
from shared.project_directory import ProjectDirectory
from shared.rebuild_diff_api import rebuild_diff_router
from shared.runtime import CompositeReadModel, Runtime
from shared.settings import Settings
from shared.telemetry import setup_telemetry
from shared.web import service_app

SERVICE = "issue_coordination"


def read_model() -> CompositeReadModel:
    return CompositeReadModel(
        [IdentityReadModel(), ProjectDirectory(), IssueReadModel(), RuleDataReadModel(), SupervisionReadModel()]
    )


def create_app(
    settings: Settings, *, clock: Clock | None = None, schema: str | None = None, escalate: bool = True
) -> FastAPI:
    """Meeting decisions are always tracked (reaction `meeting_decisions`): it is the workflow, not a convenience a
    test may leave out. `escalate=False` leaves out the escalation timer (tests that run the ladder by hand)."""
    clock = clock or settings.clock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        setup_telemetry(SERVICE, settings)
        runtime = await Runtime.start(
            SERVICE, settings, read_model(), schema=schema, reactions=[meeting_decisions()],
            timers=issue_timers(settings) if escalate else [], clock=clock,
        )  # fmt: skip
        app.state.runtime = runtime
        app.state.clock = clock
        await ensure_rule_data(runtime, Context(actor=ESCALATOR, correlation_id="issue-rule-data"))
        try:
            yield
        finally:
            await runtime.stop()

    return service_app(
        title="Tiaodu issue coordination 问题协调服务",
        description="项目推进中困难问题的提出、交办、受理、办结与确认(退回改派、延期、补充情况),调度会议定事项的跟踪落实,督办与整改。",
        lifespan=lifespan,
        routers=[
            (router, ""),
            (actions_router, ""),
            (rules_router, ""),
            (escalations_router, ""),
            (figures_router, ""),
            (supervision_router, ""),
            (supervision_figures_router, ""),
            (rebuild_diff_router(SERVICE, read_model), ""),
        ],
        runs_api=settings.runs_api,
    )
