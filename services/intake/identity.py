"""Organisations and credentials, the identity part of intake: state, `evolve` and decisions, free of I/O like
domain.py. Their use cases are in handlers.py (admin only); the way in before any admin exists is cli.py.

Tokens are shown once, at issue: a decision sees only a token's digest, which is all the log and read models keep.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.intake.commands import IssueCredential, RegisterOrganisation, RevokeCredential
from services.intake.domain import Changes, fold
from shared.catalogue.identity import CredentialIssued, CredentialRevoked, OrganisationRegistered
from shared.domain_errors import Conflict, Invalid, NotFound
from shared.envelope import Envelope, Role


class OrganisationState(BaseModel):
    id: str
    name: str
    role: Role
    credentials: dict[str, bool] = Field(default_factory=dict)  # credential id -> revoked


ORGANISATION_CHANGES: Changes[OrganisationState] = {
    CredentialIssued: lambda s, p: {"credentials": {**s.credentials, p.credential_id: False}},
    CredentialRevoked: lambda s, p: {"credentials": {**s.credentials, p.credential_id: True}},
}


def evolve_organisation(
    state: OrganisationState | None, envelope: Envelope, payload: BaseModel | None = None
) -> OrganisationState:
    def create(p: OrganisationRegistered) -> OrganisationState:
        return OrganisationState(id=envelope.aggregate_id, name=p.name, role=p.role)

    return fold(state, envelope, create, OrganisationRegistered, ORGANISATION_CHANGES, payload)


def organisation_must_exist(state: OrganisationState | None) -> OrganisationState:
    if state is None:
        raise NotFound("机构不存在", field="org_id", reason="机构不存在")
    return state


def decide_register_organisation(state: OrganisationState | None, cmd: RegisterOrganisation) -> OrganisationRegistered:
    if cmd.role == Role.SYSTEM:
        raise Invalid("system 角色保留给平台自身", field="role", reason="system 角色保留给平台自身")
    if state is not None:
        raise Conflict("机构已存在", field="id", reason="机构已存在")
    return OrganisationRegistered(name=cmd.name, role=cmd.role)


def decide_issue_credential(
    state: OrganisationState | None, cmd: IssueCredential, *, credential_id: str, token_sha256: str
) -> CredentialIssued:
    organisation_must_exist(state)
    return CredentialIssued(credential_id=credential_id, token_sha256=token_sha256, label=cmd.label)


def decide_revoke_credential(state: OrganisationState | None, cmd: RevokeCredential) -> CredentialRevoked:
    organisation = organisation_must_exist(state)
    revoked = organisation.credentials.get(cmd.credential_id)
    if revoked is None:
        raise NotFound("凭据不存在", field="credential_id", reason="凭据不存在")
    if revoked:
        raise Conflict("凭据已吊销", field="credential_id", reason="已吊销")
    return CredentialRevoked(credential_id=cmd.credential_id, reason=cmd.reason)
