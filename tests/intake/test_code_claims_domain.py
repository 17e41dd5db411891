"""The national code claim's decisions and fold as pure functions (services/intake/code_claims.py), no servers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from services.intake import code_claims
from services.intake.code_claims import ProjectCodeState
from services.intake.commands import ClaimProjectCode, ReleaseProjectCode
from shared.catalogue import CATALOGUE
from shared.catalogue.intake import ProjectCodeClaimed, ProjectCodeReleased
from shared.domain_errors import Conflict
from shared.envelope import Actor, Envelope, Role, seal_envelope

CODE = "2024-410802-04-01-000001"
CLAIMED_AT = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
CMD = ClaimProjectCode(code=CODE, year=2024, project_id="p-new")


def held_by(project_id: str | None) -> ProjectCodeState:
    return ProjectCodeState(
        id=code_claims.claim_id(CODE, 2024), code=CODE, year=2024, project_id=project_id, claimed_at=CLAIMED_AT
    )


def claim(
    state: ProjectCodeState | None, *, carries: bool = False, checked: str | None = "p-old", after: float = 0
) -> ProjectCodeClaimed | None:
    return code_claims.decide_claim_code(
        state,
        CMD,
        checked_holder=checked,
        holder_carries_code=carries,
        now=CLAIMED_AT + timedelta(seconds=after),
        grace=timedelta(minutes=10),
    )


def test_the_claim_id_is_a_subject_token_per_code_and_year() -> None:
    assert code_claims.claim_id(CODE, 2024) == "2024-410802-04-01-000001_2024"
    assert code_claims.claim_id(CODE, 2024) != code_claims.claim_id(CODE, 2025)


def test_a_free_or_released_code_is_claimed_and_a_claim_for_the_same_project_is_nothing_to_do() -> None:
    expected = ProjectCodeClaimed(code=CODE, year=2024, project_id="p-new")
    assert claim(None) == expected
    assert claim(held_by(None)) == expected
    assert claim(held_by("p-new"), after=10_000) is None


@pytest.mark.parametrize(
    ("carries", "checked", "after"),
    [
        pytest.param(True, "p-old", 5, id="young-and-carried"),
        pytest.param(False, "p-old", 5, id="young-orphan: its registration may be in flight"),
        pytest.param(True, "p-old", 3600, id="old-and-carried"),
        pytest.param(False, "p-other", 3600, id="old, but the holder changed since it was checked"),
    ],
)
def test_a_held_code_is_refused_naming_code_and_holder(carries: bool, checked: str, after: float) -> None:
    with pytest.raises(Conflict) as refused:
        claim(held_by("p-old"), carries=carries, checked=checked, after=after)
    assert refused.value.field == "code"
    assert refused.value.extra == {"holder": "p-old"}
    assert "p-old" in refused.value.detail


def test_an_old_claim_whose_holder_does_not_carry_the_code_is_taken_over() -> None:
    assert claim(held_by("p-old"), after=600) == ProjectCodeClaimed(
        code=CODE, year=2024, project_id="p-new", taken_over_from="p-old"
    )


def test_only_the_holder_releases_a_code() -> None:
    release = ReleaseProjectCode(project_id="p-old")
    assert code_claims.decide_release_code(held_by("p-old"), release) == ProjectCodeReleased(project_id="p-old")
    assert code_claims.decide_release_code(held_by("p-new"), release) is None
    assert code_claims.decide_release_code(held_by(None), release) is None
    assert code_claims.decide_release_code(None, release) is None


def envelope(payload: BaseModel, version: int, at: datetime) -> Envelope:
    entry = CATALOGUE.entry_for(payload)
    return seal_envelope(
        {
            "id": uuid.uuid4(),
            "type": entry.name,
            "schema_version": entry.schema_version,
            "aggregate_type": "project_code",
            "aggregate_id": code_claims.claim_id(CODE, 2024),
            "version": version,
            "occurred_at": at,
            "recorded_at": at,
            "actor": Actor(org_id="hq", role=Role.HQ),
            "correlation_id": "c",
            "prev_hash": None,
            "payload": payload.model_dump(mode="json"),
        }
    )


def test_evolve_follows_claims_and_releases_and_refuses_a_release_first() -> None:
    later = CLAIMED_AT + timedelta(hours=1)
    state = code_claims.evolve_project_code(
        None, envelope(ProjectCodeClaimed(code=CODE, year=2024, project_id="a"), 1, CLAIMED_AT)
    )
    assert (state.project_id, state.claimed_at) == ("a", CLAIMED_AT)
    state = code_claims.evolve_project_code(state, envelope(ProjectCodeReleased(project_id="a"), 2, later))
    assert state.project_id is None
    state = code_claims.evolve_project_code(
        state, envelope(ProjectCodeClaimed(code=CODE, year=2024, project_id="b"), 3, later)
    )
    assert (state.project_id, state.claimed_at) == ("b", later)
    with pytest.raises(ValueError):
        code_claims.evolve_project_code(None, envelope(ProjectCodeReleased(project_id="a"), 1, CLAIMED_AT))
