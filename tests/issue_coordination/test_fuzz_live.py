"""schemathesis against issue_coordination as a real uvicorn server (beside intake, which registers the
organisations), as tests/contract does for intake and scheduling: every answer documented, nothing 5xx."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from services.intake.bootstrap import create_app as create_intake
from services.issue_coordination.bootstrap import create_app as create_issue_coordination
from shared.settings import Settings
from tests.contract.live import serving
from tests.contract.test_fuzz_live import schemathesis
from tests.platform import bootstrap_orgs


@pytest.mark.timeout(600)
async def test_schemathesis_finds_no_undocumented_answer_and_no_5xx(settings: Settings, tmp_path: Path) -> None:
    intake_app = create_intake(dataclasses.replace(settings, replica_id="intake-live"))
    issues_app = create_issue_coordination(dataclasses.replace(settings, replica_id="issues-live"))
    async with serving("intake", intake_app) as intake, serving("issue_coordination", issues_app) as issues:
        tokens = await bootstrap_orgs(intake.runtime.store)
        assert await issues.runtime.runner.wait_for(await intake.runtime.store.last_seq(), 10)
        code, output = await schemathesis(issues, tokens, tmp_path / "report")
    assert code == 0, f"schemathesis found problems in issue_coordination:\n{output}"
    assert "Operations:" in output and " 0 selected" not in output, output  # it really tested operations
