"""Per-service NATS users with exactly the rights their service uses, and the server configuration holding them.

`make run` writes this configuration (with generated passwords) for its embedded server; deploy/nats/nats.conf
(compose) and deploy/k8s/nats/values.yaml (the NATS Helm chart) carry the same permissions with passwords from the
environment, written by `python -m shared.devstack.deploy_files` (`python -m shared.devstack.nats_config` prints
the block alone; tests/deploy checks the files against `publish_allow`).

Why each grant (docs/adr/0006-nats-least-privilege.md):
- events: `<prefix>.ev.<type>.*` for the aggregate types the service owns (shared/catalogue/ownership.py);
- the event stream: read-only STREAM.INFO (verify it, read its last sequence) and direct get, never create,
  update, delete or purge (an administrator provisions the stream: shared/provision.py);
- its durable consumers, enumerated by name: a consumer name is one token of the API subject, so a permission
  cannot say "names starting with intake-"; each (group, partition) is listed;
- its rebuild consumers, also by name (`<service>-rebuild-p<n>`): create, delete and pull only (AckNone, no
  acks), so that a rebuild reads each partition through a consumer of its own (docs/adr/0012);
- no unnamed (ephemeral) consumers: the unnamed create subject accepts any `name` in its body, so it would let a
  service take another service's consumer name; other full replays read with batched direct gets instead;
- its own keys in the lease bucket (`$KV.<bucket>.<lease_prefix>.>`) and direct gets of only those keys;
- direct gets of the development clock's key (`<stream>-clock.offset`); scheduling, which serves
  `POST /v1/clock/advance`, may also write it (docs/adr/0016);
- intake (which stores site evidence): the attachments' object store (`attachment_grant`);
- `_INBOX.>` for replies. No `$JS.API.>` wildcard.
"""

from __future__ import annotations

import argparse
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.catalogue.ownership import SERVICES
from shared.devstack.files import write_private
from shared.names import ATTACHMENT_BUCKET, LEASE_BUCKET, REBUILD_GROUP, clock_key, consumer_name, lease_prefix

ADMIN = "admin"
ATTACHMENT_WRITERS = ("intake",)  # serves /v1/attachments (services/intake/api_attachments.py)
CLOCK_WRITER = "scheduling"  # serves POST /v1/clock/advance (services/scheduling/api_clock.py)
ACCOUNT = "TIAODU"


@dataclass(frozen=True)
class Secret:
    """A password the server reads from its environment (`$NAME` in the configuration)."""

    env: str


Password = str | Secret


def consumer_names(service: str, partitions: int) -> list[str]:
    """Every durable consumer a service runs: one per consumer group and partition."""
    groups = SERVICES[service].consumer_groups
    return [consumer_name(service, group, p) for group in groups for p in range(partitions)]


def rebuild_consumer_names(service: str, partitions: int) -> list[str]:
    """The consumers a rebuild of the service's read model reads the partitions with (shared.partition_reader)."""
    return [consumer_name(service, REBUILD_GROUP, p) for p in range(partitions)]


def consumer_grant(stream: str, consumer: str, *, live: bool) -> list[str]:
    """What a service may do with one of its own named consumers. A live one (projection, reaction) is also looked at
    (`_delivered_elsewhere`), created as a durable by older clients and acknowledged; a rebuild's is AckNone."""
    api, c = "$JS.API", consumer
    subjects = [f"{api}.CONSUMER.CREATE.{stream}.{c}", f"{api}.CONSUMER.CREATE.{stream}.{c}.>"]
    if live:
        subjects += [f"{api}.CONSUMER.DURABLE.CREATE.{stream}.{c}", f"{api}.CONSUMER.INFO.{stream}.{c}"]
    subjects += [f"{api}.CONSUMER.DELETE.{stream}.{c}", f"{api}.CONSUMER.MSG.NEXT.{stream}.{c}"]
    return subjects + ([f"$JS.ACK.{stream}.{c}.>"] if live else [])


def publish_allow(service: str, *, stream: str, prefix: str, partitions: int, bucket: str = LEASE_BUCKET) -> list[str]:
    """The subjects a service's NATS user may publish on (requests to the JetStream API are publishes too)."""
    grant = SERVICES[service]
    api = "$JS.API"
    kv_stream = f"KV_{bucket}"
    keys = f"$KV.{bucket}.{lease_prefix(stream, service)}"
    subjects = [f"{prefix}.ev.{aggregate}.*" for aggregate in sorted(grant.aggregates)]
    subjects += [f"{api}.STREAM.INFO.{stream}", f"{api}.DIRECT.GET.{stream}", f"{api}.DIRECT.GET.{stream}.>"]
    for c in consumer_names(service, partitions):
        subjects += consumer_grant(stream, c, live=True)
    for c in rebuild_consumer_names(service, partitions):
        subjects += consumer_grant(stream, c, live=False)
    subjects += [f"{keys}.>", f"{api}.STREAM.INFO.{kv_stream}", f"{api}.DIRECT.GET.{kv_stream}.{keys}.>"]
    # The development clock's offset (shared.platform_clock): every service reads it, scheduling moves it forward.
    clock = f"$KV.{bucket}.{clock_key(stream)}"
    subjects += [f"{api}.DIRECT.GET.{kv_stream}.{clock}"] + ([clock] if service == CLOCK_WRITER else [])
    if service in ATTACHMENT_WRITERS:
        subjects += attachment_grant(api)
    subjects.append("_INBOX.>")
    return subjects


def attachment_grant(api: str, bucket: str = ATTACHMENT_BUCKET) -> list[str]:
    """The attachments' object store: its chunk and meta subjects (nats-py's put), its configuration and the last
    meta message of a name (get_info), and direct gets of the chunks one by one (a download reads them so, with no
    consumer, services/intake/api_attachments.py). No purge or delete: evidence stays as its SHA-256 in the log says."""
    obj = f"OBJ_{bucket}"
    return [f"$O.{bucket}.>", f"{api}.STREAM.INFO.{obj}", f"{api}.STREAM.MSG.GET.{obj}", f"{api}.DIRECT.GET.{obj}"]


def password_env(user: str) -> str:
    return f"NATS_{user.upper()}_PASSWORD"


def _password(value: Password) -> str:
    return f"${value.env}" if isinstance(value, Secret) else json.dumps(value)


def render_accounts(
    passwords: Mapping[str, Password], *, stream: str, prefix: str, partitions: int, indent: str = ""
) -> str:
    """The `accounts` block: one user per service in `passwords` plus `admin` (no restriction: it provisions)."""
    lines = ["accounts {", f"  {ACCOUNT} {{", "    jetstream: enabled", "    users: ["]
    for user in [s for s in SERVICES if s in passwords]:
        allow = publish_allow(user, stream=stream, prefix=prefix, partitions=partitions)
        lines += [
            "      {",
            f"        user: {user}",
            f"        password: {_password(passwords[user])}",
            "        permissions: {",
            "          publish: {",
            "            allow: [",
            *(f"              {json.dumps(subject)}" for subject in allow),
            "            ]",
            "          }",
            "        }",
            "      }",
        ]
    lines += [
        "      # The administrator: creates and updates the event stream and the lease bucket (shared/provision.py).",
        "      {",
        f"        user: {ADMIN}",
        f"        password: {_password(passwords[ADMIN])}",
        "      }",
        "    ]",
        "  }",
        "}",
    ]
    return "\n".join(indent + line if line else line for line in lines) + "\n"


def render_server_config(
    passwords: Mapping[str, Password], *, port: int, store_dir: str, stream: str, prefix: str, partitions: int
) -> str:
    """A whole single-server configuration for `make run`: loopback only, JetStream on file storage."""
    head = [
        "# Generated by shared/devstack (make run); do not edit: it is rewritten at every start.",
        f'listen: "127.0.0.1:{port}"',
        f"jetstream {{ store_dir: {json.dumps(store_dir)} }}",
        "",
    ]
    return "\n".join(head) + render_accounts(passwords, stream=stream, prefix=prefix, partitions=partitions)


def local_passwords(path: Path) -> dict[str, str]:
    """`make run`'s passwords: generated on the first run, then kept (file mode 0600) so that demo.json stays valid."""
    users = [*SERVICES, ADMIN]
    known: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    passwords = {user: known.get(user) or secrets.token_urlsafe(24) for user in users}
    if passwords != known:
        write_private(path, json.dumps(passwords, indent=2) + "\n")
    return passwords


def main() -> None:
    parser = argparse.ArgumentParser(description="print the accounts block of deploy/nats/nats.conf")
    parser.add_argument("--stream", default="TIAODU")
    parser.add_argument("--prefix", default="tiaodu")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--indent", default="")
    args = parser.parse_args()
    passwords: dict[str, Password] = {user: Secret(password_env(user)) for user in [*SERVICES, ADMIN]}
    print(
        render_accounts(
            passwords, stream=args.stream, prefix=args.prefix, partitions=args.partitions, indent=args.indent
        ),
        end="",
    )


if __name__ == "__main__":
    main()
