from __future__ import annotations

from tests.intake.conftest import Intake
from tests.platform import auth, project_body


async def test_register_then_read_your_write(intake: Intake) -> None:
    hq = auth(intake.tokens["hq"])
    r = await intake.client.post("/v1/projects", json=project_body(), headers=hq)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["version"] == 1 and created["seq"] > 0
    r = await intake.client.get(f"/v1/projects/{created['id']}", params={"min_seq": created["seq"]}, headers=hq)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "测试项目"
    assert r.headers["etag"] == '"1"'
