"""The platform clock for demos and training (development only, docs/adr/0016): read it, and hq moves it forward.

scheduling serves it because it owns the rhythm (the daily monitoring and its timers): moving the clock is moving
the time its timers run at. The offset itself lives in the lease bucket, which every process of every service
follows (shared.platform_clock), so the other services see the same time within a second or two.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.scheduling.deps import HQ
from services.scheduling.responses_lights import ClockAnswer
from shared.clock import CHINA, today
from shared.contract import may_answer
from shared.platform_clock import MAX_ADVANCE, PlatformClock, advance_offset
from shared.problems import Problem
from shared.runtime import Runtime
from shared.web import PrincipalDep, RuntimeDep

router = APIRouter(tags=["clock"])
MAX_HOURS = int(MAX_ADVANCE.total_seconds() // 3600)


@may_answer(403)
async def development_clock(rt: RuntimeDep) -> PlatformClock:
    """The shared clock, or 403 where the platform runs on the real time (production)."""
    if rt.settings.environment != "development" or not isinstance(rt.clock, PlatformClock):
        raise Problem(403, "平台时钟仅在开发模式(TIAODU_ENV=development)下可查看和调整;生产环境使用真实时间")
    return rt.clock


ClockDep = Annotated[PlatformClock, Depends(development_clock)]


class AdvanceClock(BaseModel):
    """How far to move the platform clock forward: days and/or hours, together more than 0 and at most 7 days."""

    model_config = ConfigDict(extra="forbid")
    days: int = Field(0, ge=0, le=MAX_ADVANCE.days, description="前进天数")
    hours: int = Field(0, ge=0, le=MAX_HOURS, description="前进小时数")

    @model_validator(mode="after")
    def _bounded(self) -> AdvanceClock:
        total = timedelta(days=self.days, hours=self.hours)
        if total <= timedelta(0):
            raise ValueError("days 与 hours 至少一项大于 0")
        if total > MAX_ADVANCE:
            raise ValueError(f"一次最多前进 {MAX_ADVANCE.days} 天(定时任务逐期补跑,不跳过任何一期)")
        return self

    @property
    def delta(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours)


def clock_state(clock: PlatformClock) -> ClockAnswer:
    now = clock.now()
    return ClockAnswer(
        now=now,
        china_time=now.astimezone(CHINA),
        date=today(clock),
        simulated=clock.simulated,
        offset_seconds=clock.offset.total_seconds(),
    )


@router.get("/clock", summary="平台时钟(开发模式):当前日期时间、北京时间、是否为模拟时间")
async def get_clock(clock: ClockDep, principal: PrincipalDep) -> ClockAnswer:
    return clock_state(clock)


@router.post("/clock/advance", summary="平台时钟前进(开发模式,指挥部):定时任务随后逐期补跑", dependencies=[HQ])
async def advance_clock(body: AdvanceClock, clock: ClockDep, rt: RuntimeDep) -> ClockAnswer:
    await _advance(rt, clock, body.delta)
    return clock_state(clock)


async def _advance(rt: Runtime, clock: PlatformClock, delta: timedelta) -> None:
    assert rt.kv is not None  # Runtime.start opens the lease bucket before anything is served
    clock.moved_to(*await advance_offset(rt.kv, rt.settings.stream, delta))
    if rt.timers is not None:
        rt.timers.wake()  # this replica's timers catch up now; the others as they follow the clock (within 1 s)
