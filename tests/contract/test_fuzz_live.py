"""schemathesis against the live services (real uvicorn servers on the suite's NATS and PostgreSQL): every answer
has a documented status code, content type, headers and schema, and nothing answers 5xx. All four phases; the
number of examples per operation is bounded so that the run stays within about two minutes on two cores."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from shared.settings import Settings
from tests.contract.live import LiveService, live_platform

CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES_PER_OPERATION = 25
SEED = 20241001  # a failure found once is found again on the next run
# Every check, negative_data_rejection included: what the schema calls invalid (a number for a `date`...) is refused.
EXCLUDED_CHECKS: list[str] = []


async def schemathesis(service: LiveService, tokens: dict[str, str], report: Path) -> tuple[int, str]:
    env = {**os.environ, "TIAODU_HQ_TOKEN": tokens["hq"], "TIAODU_ADMIN_TOKEN": tokens["admin"]}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "--no-color",
        "run", f"{service.url}/openapi.json",
        "--checks", "all", *(["--exclude-checks", ",".join(EXCLUDED_CHECKS)] if EXCLUDED_CHECKS else []),
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", str(SEED), "--workers", "1",
        "--report", "junit", "--report-dir", str(report),
        env=env, cwd=report.parent, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", ["intake", "scheduling"])
async def test_schemathesis_finds_no_undocumented_answer_and_no_5xx(
    name: str, settings: Settings, tmp_path: Path
) -> None:
    async with live_platform(settings) as platform:
        code, output = await schemathesis(platform.services[name], platform.tokens, tmp_path / "report")
    assert code == 0, f"schemathesis found problems in {name}:\n{output}"
    assert "Operations:" in output and " 0 selected" not in output, output  # it really tested operations
