"""Everything intake projects, as one read model: the part of the composition root a rebuild needs.

Kept apart from bootstrap (the API, FastAPI and its routers) so that the rebuild command and each of its spawned
processes, which import the read model's factory by reference, do not import the whole service (~0.3 s of CPU a
process)."""

from __future__ import annotations

from services.intake.read_model import IntakeReadModel
from shared.auth import IdentityReadModel
from shared.runtime import CompositeReadModel

SERVICE = "intake"


def read_model() -> CompositeReadModel:
    return CompositeReadModel([IdentityReadModel(), IntakeReadModel()])
