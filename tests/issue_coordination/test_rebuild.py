"""The read model follows from the log: rebuilt from sequence 1 into a scratch schema, it equals the live one after
issues at every status, a reopen, a reassignment and tracked meeting decisions."""

from __future__ import annotations

from services.issue_coordination.bootstrap import read_model
from shared.rebuild import diff_schemas, rebuild
from tests.issue_coordination.conftest import DEADLINE, Platform
from tests.issue_coordination.test_meeting_decisions import decide, meeting


async def test_rebuild_equals_live(platform: Platform) -> None:
    project_id = await platform.project()
    withdrawn, _stays_raised, reopened, reassigned = [await platform.raise_issue(project_id) for _ in range(4)]
    await platform.act(withdrawn, "withdrawal", "unit-a", {"reason": "已自行解决"})
    for issue_id in (reopened, reassigned):
        await platform.act(issue_id, "assignment", "hq", {"lead_unit_id": "unit-b", "deadline": DEADLINE})
        await platform.act(issue_id, "acceptance", "unit-b")
    await platform.act(reopened, "notes", "unit-b", {"text": "正在协调"}, expect=201)
    await platform.act(reopened, "resolution", "unit-b", {"answer": "已协调"})
    await platform.act(reopened, "rejection", "unit-a", {"reason": "未解决"})
    request = await platform.act(reassigned, "reassignment-requests", "unit-b", {"reason": "非本单位职责"}, expect=201)
    await platform.act(reassigned, f"reassignment-requests/{request['request_id']}/decision", "hq",
                       {"decision": "approve", "reason": "同意", "lead_unit_id": "unit-c"})  # fmt: skip
    meeting_id = await meeting(platform, ["unit-b"])
    await decide(platform, meeting_id, "月底前完成用地手续", "unit-a", project_id)
    await decide(platform, meeting_id, "梳理用地需求清单", "unit-b")
    await platform.synced()

    rt = platform.issues_rt
    async with rt.pool.acquire() as conn:
        statuses = await conn.fetch(f"SELECT status, count(*) FROM {rt.schema}.issues GROUP BY 1 ORDER BY 1")
    assert {r["status"]: r["count"] for r in statuses} == {"accepted": 1, "assigned": 3, "raised": 1, "withdrawn": 1}
    await rebuild(rt.pool, rt.store, read_model(), "issue_coordination_rebuild", until_seq=await rt.store.last_seq())
    assert await diff_schemas(rt.pool, read_model(), rt.schema, "issue_coordination_rebuild") == {}
    async with rt.pool.acquire() as conn:
        rows = await conn.fetchval("SELECT count(*) FROM issue_coordination_rebuild.issue_timeline")
    assert rows == 16  # 6 creations and 10 steps: the comparison compared something
