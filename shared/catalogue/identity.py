"""Identity events: organisations and their credentials (aggregate `organisation`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.catalogue.registry import event
from shared.envelope import Role


@event("OrganisationRegistered", aggregate="organisation")
class OrganisationRegistered(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Role
    demo: bool = False


@event("CredentialIssued", aggregate="organisation")
class CredentialIssued(BaseModel):
    credential_id: str
    # sha256 of the bearer token: tokens are 256-bit random, so a plain digest is safe and lookups stay O(1).
    token_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    label: str = ""


@event("CredentialRevoked", aggregate="organisation")
class CredentialRevoked(BaseModel):
    credential_id: str
    reason: str = ""
