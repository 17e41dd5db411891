"""Everything scheduling projects, as one read model: the part of the composition root a rebuild needs.

Kept apart from bootstrap (the API, FastAPI and its routers, timers) so that the rebuild command and each of its
spawned processes, which import the read model's factory by reference, do not import the whole service (~0.3 s of
CPU a process)."""

from __future__ import annotations

from services.scheduling.read_model import SchedulingReadModel
from services.scheduling.read_model_issues import KnownIssuesReadModel
from services.scheduling.read_model_supervision import KnownOrdersReadModel
from services.scheduling.read_model_year_end import YearEndReadModel
from shared.auth import IdentityReadModel
from shared.project_directory import ProjectDirectory
from shared.runtime import CompositeReadModel

SERVICE = "scheduling"


def read_model() -> CompositeReadModel:
    return CompositeReadModel(
        [
            IdentityReadModel(),
            ProjectDirectory(),
            SchedulingReadModel(),
            KnownIssuesReadModel(),
            KnownOrdersReadModel(),
            YearEndReadModel(),
        ]
    )
