"""The event stream, the lease bucket and the attachments' object store: created and updated by an administrator,
only verified by services.

    NATS_URL=... NATS_USER=admin NATS_PASSWORD=... python -m shared.provision

`make run` runs this as its `admin` NATS user, docker-compose as a one-shot service and Kubernetes as a Job that
the services wait for. A service's own NATS user may read the stream's configuration but not change it, so a
service can no longer shrink the log (docs/adr/0006-nats-least-privilege.md); at start-up it calls `verify`,
which refuses a missing or differently configured stream or bucket, naming the field.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import nats
import nats.errors
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import NotFoundError

from shared.names import ATTACHMENT_BUCKET, LEASE_BUCKET
from shared.settings import Settings, nats_servers

DUPLICATE_WINDOW_S = 120.0
KV_STREAM = f"KV_{LEASE_BUCKET}"
OBJECT_STREAM = f"OBJ_{ATTACHMENT_BUCKET}"


class ProvisioningError(RuntimeError):
    """The stream or the lease bucket is missing, or differs from what the platform needs (`field` says where)."""

    def __init__(self, what: str, field: str, detail: str) -> None:
        super().__init__(f"{what}: {field} {detail}")
        self.field = field


@dataclass(frozen=True)
class StreamLayout:
    """What the log looks like: its name, subject prefix, partitions and replicas (from Settings or env)."""

    stream: str = "TIAODU"
    prefix: str = "tiaodu"
    partitions: int = 4
    replicas: int = 1

    @classmethod
    def of(cls, settings: Settings) -> StreamLayout:
        return cls(settings.stream, settings.subject_prefix, settings.partitions, settings.stream_replicas)

    @classmethod
    def from_env(cls) -> StreamLayout:
        return cls.from_env_of(os.environ)

    @classmethod
    def from_env_of(cls, env: Mapping[str, str]) -> StreamLayout:
        return cls(
            stream=env.get("TIAODU_STREAM", "TIAODU"),
            prefix=env.get("TIAODU_SUBJECT_PREFIX", "tiaodu"),
            partitions=int(env.get("TIAODU_PARTITIONS", "4")),
            replicas=int(env.get("TIAODU_STREAM_REPLICAS", "1")),
        )

    def transform(self) -> js_api.SubjectTransform:
        # <prefix>.ev.<type>.<id> is stored as <prefix>.evp.<partition>.<type>.<id> (docs/adr/0002).
        return js_api.SubjectTransform(
            src=f"{self.prefix}.ev.*.*",
            dest=f"{self.prefix}.evp.{{{{partition({self.partitions},1,2)}}}}.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}",
        )

    def stream_config(self) -> js_api.StreamConfig:
        """Deletes and purges denied and nothing expires, for ever."""
        return js_api.StreamConfig(
            name=self.stream,
            subjects=[f"{self.prefix}.ev.*.*"],
            subject_transform=self.transform(),
            storage=js_api.StorageType.FILE,
            retention=js_api.RetentionPolicy.LIMITS,
            max_age=0,
            max_msgs=-1,
            max_bytes=-1,
            max_msgs_per_subject=-1,
            deny_delete=True,
            deny_purge=True,
            allow_direct=True,
            duplicate_window=DUPLICATE_WINDOW_S,
            num_replicas=self.replicas,
        )

    def attachment_config(self) -> js_api.ObjectStoreConfig:
        # Site evidence is kept like the log: file storage, as many replicas, nothing expires.
        return js_api.ObjectStoreConfig(
            bucket=ATTACHMENT_BUCKET,
            description="现场照片与文件(附件)",
            storage=js_api.StorageType.FILE,
            replicas=self.replicas,
        )

    def bucket_config(self) -> js_api.KeyValueConfig:
        # Direct gets address one key in the request subject, so a service's user can be allowed its own keys only.
        return js_api.KeyValueConfig(bucket=LEASE_BUCKET, history=1, replicas=self.replicas, direct=True)


_PARTITIONS = re.compile(r"\{\{\s*partition\(\s*(\d+)\s*,")


def stream_mismatches(layout: StreamLayout, config: js_api.StreamConfig) -> list[tuple[str, str]]:
    """(field, what is wrong) for every property of an existing stream that the platform relies on."""
    wanted = layout.stream_config()
    problems: list[tuple[str, str]] = []

    def expect(field: str, actual: object, expected: object, meaning: str = "") -> None:
        if actual != expected:
            problems.append((field, f"is {actual!r}, expected {expected!r}{meaning}"))

    expect("subjects", list(config.subjects or []), wanted.subjects)
    transform = config.subject_transform
    src, dest = (transform.src, transform.dest) if transform else (None, None)
    assert wanted.subject_transform is not None
    expect("subject_transform.src", src, wanted.subject_transform.src)
    found = _PARTITIONS.search(dest or "")
    expect("partitions (subject_transform.dest)", int(found.group(1)) if found else None, layout.partitions)
    expect("subject_transform.dest", dest, wanted.subject_transform.dest)
    expect("storage", config.storage, js_api.StorageType.FILE)
    expect("retention", config.retention, js_api.RetentionPolicy.LIMITS)
    expect("deny_delete", bool(config.deny_delete), True)
    expect("deny_purge", bool(config.deny_purge), True)
    expect("allow_direct", bool(config.allow_direct), True)
    expect("max_age", config.max_age or 0, 0, " (nothing may expire)")
    for field in ("max_msgs", "max_bytes", "max_msgs_per_subject"):
        expect(field, getattr(config, field), -1, " (unlimited)")
    return problems


async def verify(js: JetStreamContext, layout: StreamLayout, *, bucket: bool = True) -> None:
    """Read-only check, with a service's own rights, that the administrator provisioned what it needs."""
    try:
        info = await js.stream_info(layout.stream)
    except NotFoundError:
        raise ProvisioningError(
            f"stream {layout.stream}", "stream", "does not exist: run `python -m shared.provision` as the admin user"
        ) from None
    for field, detail in stream_mismatches(layout, info.config):
        raise ProvisioningError(f"stream {layout.stream}", field, detail)
    if bucket:
        await _verify_bucket(js, info.config.num_replicas or 1)


async def _verify_bucket(js: JetStreamContext, replicas: int) -> None:
    what = f"lease bucket {LEASE_BUCKET}"
    try:
        info = await js.stream_info(KV_STREAM)
    except NotFoundError:
        raise ProvisioningError(what, "bucket", "does not exist: run `python -m shared.provision` as admin") from None
    if not info.config.allow_direct:
        raise ProvisioningError(what, "allow_direct", "is False, expected True")
    if (info.config.num_replicas or 1) != replicas:
        detail = f"is {info.config.num_replicas}, expected {replicas} (as many as the stream)"
        raise ProvisioningError(what, "num_replicas", detail)


async def verify_attachment_store(js: JetStreamContext) -> None:
    """What the services that store attachments (intake) check at start-up, with their own rights."""
    try:
        await js.stream_info(OBJECT_STREAM)
    except NotFoundError:
        raise ProvisioningError(
            f"object store {ATTACHMENT_BUCKET}", "bucket", "does not exist: run `python -m shared.provision` as admin"
        ) from None


async def provision(js: JetStreamContext, layout: StreamLayout) -> None:
    """Create the stream if missing (an existing one is verified, never changed) and create or fix the bucket."""
    try:
        await js.stream_info(layout.stream)
    except NotFoundError:
        await js.add_stream(layout.stream_config())
    await verify(js, layout, bucket=False)
    try:
        await js.stream_info(OBJECT_STREAM)
    except NotFoundError:
        # nats-py takes the bucket name beside the configuration (it overwrites the one inside with it).
        await js.create_object_store(ATTACHMENT_BUCKET, config=layout.attachment_config())
    try:
        info = await js.stream_info(KV_STREAM)
    except NotFoundError:
        await js.create_key_value(layout.bucket_config())
        return
    if not info.config.allow_direct or (info.config.num_replicas or 1) != layout.replicas:
        # Leases are short-lived; correcting the bucket in place keeps its revisions (the lease epochs).
        info.config.allow_direct = True
        info.config.num_replicas = layout.replicas
        await js.update_stream(info.config)


async def provision_at(url: str, layout: StreamLayout, *, user: str | None = None, password: str | None = None) -> None:
    """Connect as the administrator, provision, disconnect."""
    nc = await nats.connect(nats_servers(url), user=user, password=password)
    try:
        await provision(nc.jetstream(), layout)
    finally:
        await nc.close()


async def wait_verified(
    url: str, layout: StreamLayout, *, user: str | None, password: str | None, timeout: float
) -> None:
    """Wait, with a service's own user, until the administrator's provisioning has run (a pod's init step)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            nc = await nats.connect(nats_servers(url), user=user, password=password, max_reconnect_attempts=0)
            try:
                await verify(nc.jetstream(), layout)
                return
            finally:
                await nc.close()
        except (ProvisioningError, OSError, nats.errors.Error) as exc:
            if loop.time() > deadline:
                detail = f"not verified within {timeout:.0f}s: {exc}"
                raise ProvisioningError("provisioning", "timeout", detail) from exc
            print(f"waiting for provisioning: {exc}", file=sys.stderr, flush=True)
            await asyncio.sleep(2.0)


async def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.provision", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--wait-verified",
        type=float,
        metavar="SECONDS",
        help="create nothing: wait until the stream and bucket verify (run with a service's own user)",
    )
    args = parser.parse_args(argv)
    url = os.environ.get("NATS_URL")
    if not url:
        raise SystemExit("shared.provision: set NATS_URL (and NATS_USER/NATS_PASSWORD of the admin user)")
    layout = StreamLayout.from_env()
    user, password = os.environ.get("NATS_USER") or None, os.environ.get("NATS_PASSWORD") or None
    if args.wait_verified is not None:
        await wait_verified(url, layout, user=user, password=password, timeout=args.wait_verified)
        print(f"stream {layout.stream} and bucket {LEASE_BUCKET} are provisioned", flush=True)
        return
    await provision_at(url, layout, user=user, password=password)
    print(f"stream {layout.stream} and bucket {LEASE_BUCKET} are provisioned", flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(_main(sys.argv[1:]))
    except ProvisioningError as exc:
        print(f"shared.provision: {exc}", file=sys.stderr)
        sys.exit(1)
