"""What scheduling's routes depend on besides `shared.web`: the injected clock's day and the writing roles."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Path, Request

from shared.clock import Clock, today
from shared.envelope import Role
from shared.web import require_roles

HQ = require_roles(Role.HQ)
# What an identifier in a query may be (ids are slugs): anything else is refused at the edge, never sent to the database
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
WRITERS = require_roles(Role.HQ, Role.UNIT)
# The programme in a path, in the office's words (年度重点项目批次, never 计划: users read that as a plan)
ProgrammeId = Annotated[str, Path(description="年度重点项目批次编号")]
# Who may convene and run dispatch meetings; which meeting is decided on it (policies.can_run_meeting)
CONVENERS = require_roles(Role.HQ, Role.UNIT, Role.LEADER)


async def clock_of(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def today_of(clock: Annotated[Clock, Depends(clock_of)]) -> date:
    return today(clock)


Today = Annotated[date, Depends(today_of)]
ClockDep = Annotated[Clock, Depends(clock_of)]
