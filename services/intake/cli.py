"""Operator commands that work on the log directly, before any admin credential exists (so there is no one to
authorise and no read model to load from: the organisation is folded from its own events).

python -m services.intake.cli bootstrap-admin [--org admin]   # prints one admin token, once
python -m services.intake.cli bootstrap-demo                   # demo organisations, prints their tokens as JSON
python -m services.intake.cli rebuild --schema intake_rebuild --compare intake   # the read model from sequence 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid

from services.intake.commands import IssueCredential, RegisterOrganisation
from services.intake.demo_data import ORGANISATIONS
from services.intake.identity import OrganisationState, decide_issue_credential, decide_register_organisation
from services.intake.identity import evolve_organisation as evolve
from services.intake.read_models import SERVICE, read_model
from shared.auth import new_token, token_digest
from shared.envelope import Actor, Role
from shared.eventstore import Context, EventStore, Position
from shared.provision import StreamLayout, verify
from shared.rebuild_processes import add_rebuild_command, run_rebuild_command
from shared.runtime import connect_nats
from shared.settings import Settings

SYSTEM = Actor(org_id="platform", role=Role.SYSTEM, user="cli")


async def bootstrap_organisation(
    store: EventStore, org_id: str, name: str, role: Role, ctx: Context, *, demo: bool, label: str
) -> str:
    """Register an organisation (unless it exists) and issue it one new credential; returns the token."""
    state: OrganisationState | None = None
    position = Position()
    for event in await store.read_aggregate("organisation", org_id):
        state, position = evolve(state, event.envelope), position.after(event)
    if state is None:
        registered = decide_register_organisation(None, RegisterOrganisation(id=org_id, name=name, role=role))
        stored = await store.append(
            "organisation", org_id, registered.model_copy(update={"demo": demo}), expected=position, context=ctx
        )
        state, position = evolve(None, stored.envelope), position.after(stored)
    token = new_token()
    issued = decide_issue_credential(
        state,
        IssueCredential(org_id=org_id, label=label),
        credential_id="c" + uuid.uuid4().hex[:16],
        token_sha256=token_digest(token),
    )
    await store.append("organisation", org_id, issued, expected=position, context=ctx)
    return token


async def _store(settings: Settings) -> tuple[EventStore, object]:
    nc = await connect_nats(settings, "intake-cli")
    store = EventStore(
        nc.jetstream(),
        stream=settings.stream,
        prefix=settings.subject_prefix,
        partitions=settings.partitions,
        replicas=settings.stream_replicas,
    )
    await verify(store.js, StreamLayout.of(settings), bucket=False)  # the administrator created it
    return store, nc


async def bootstrap_demo(settings: Settings) -> dict[str, object]:
    store, nc = await _store(settings)
    ctx = Context(actor=SYSTEM, correlation_id=f"bootstrap-demo-{uuid.uuid4()}")
    tokens: dict[str, object] = {"leaders": {}, "units": {}}
    try:
        for org_id, name, role in ORGANISATIONS:
            token = await bootstrap_organisation(store, org_id, name, role, ctx, demo=True, label="demo")
            if role == Role.UNIT:
                tokens["units"][org_id] = token  # type: ignore[index]
            elif role == Role.LEADER:
                tokens["leaders"][org_id] = token  # type: ignore[index]
            else:
                tokens[role.value if role != Role.AUDITOR else "auditor"] = token
    finally:
        await nc.close()  # type: ignore[attr-defined]
    return tokens


async def bootstrap_admin(settings: Settings, org_id: str) -> str:
    store, nc = await _store(settings)
    try:
        ctx = Context(actor=SYSTEM, correlation_id=f"bootstrap-admin-{uuid.uuid4()}")
        return await bootstrap_organisation(store, org_id, "系统管理", Role.ADMIN, ctx, demo=False, label="bootstrap")
    finally:
        await nc.close()  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.intake.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("bootstrap-demo", help="register the demo organisations and print their tokens as JSON")
    admin = sub.add_parser("bootstrap-admin", help="register an admin organisation and print a new token")
    admin.add_argument("--org", default="admin")
    add_rebuild_command(sub)
    args = parser.parse_args()
    settings = Settings.from_env("intake-cli")
    if args.command == "rebuild":
        print(run_rebuild_command(args, settings, SERVICE, read_model))
    elif args.command == "bootstrap-demo":
        print(json.dumps(asyncio.run(bootstrap_demo(settings)), ensure_ascii=False))
    else:
        print(asyncio.run(bootstrap_admin(settings, args.org)))


if __name__ == "__main__":
    main()
