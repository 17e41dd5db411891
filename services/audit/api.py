"""audit over HTTP (paths fixed by issue 11). Each part has its own router; `routers()` lists them in the order the
app includes them, so that a part (the seals, api_seals.py) is added with one line here."""

from __future__ import annotations

from fastapi import APIRouter

from services.audit.api_access import router as access_router
from services.audit.api_events import router as events_router
from services.audit.api_history import router as history_router
from services.audit.api_seals import router as seals_router
from services.audit.api_verification import router as verification_router


def routers() -> list[APIRouter]:
    return [events_router, history_router, verification_router, access_router, seals_router]
