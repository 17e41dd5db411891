"""A service's /docs page works on an intranet: Swagger UI's files are served by the service itself."""

from __future__ import annotations

from tests.docs_check import assert_docs_served_locally
from tests.intake.conftest import Intake


async def test_a_service_serves_its_docs_with_its_own_files(intake: Intake) -> None:
    await assert_docs_served_locally(intake.client)
