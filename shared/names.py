"""Names the platform gives its NATS resources, in one place: the runner uses them, and so does whatever writes
the per-service NATS permissions (make run, deploy/), so a permission can name exactly what a service owns.

A consumer name is a single subject token in the JetStream API (`$JS.API.CONSUMER.*.<stream>.<consumer>`), so a
permission cannot match a prefix of it: every consumer a service uses is therefore enumerable from the service
name, its consumer groups (the projection and each reaction) and the partition count.
"""

from __future__ import annotations

import re

LEASE_BUCKET = "tiaodu_leases"
# Site evidence (attachments): a JetStream object store bucket, provisioned by the administrator, written by intake.
ATTACHMENT_BUCKET = "tiaodu_attachments"
PROJECTION_GROUP = "proj"  # the consumer group of a service's projection; reactions are groups named after them
# Names the consumers a rebuild reads each partition with (`<service>-rebuild-p<n>`, docs/adr/0012): a rebuild is not
# a consumer group (no leases, no checkpoint of its own in the live schema), but its consumers need names a service's
# NATS user is granted.
REBUILD_GROUP = "rebuild"

_TOKEN = re.compile(r"^[A-Za-z0-9_]{1,64}$")


def _check(value: str, what: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"{what} {value!r} must match [A-Za-z0-9_]{{1,64}}")
    return value


def consumer_name(service: str, group: str, partition: int) -> str:
    """The durable consumer of one partition for one consumer group of a service, e.g. `scheduling-proj-p0`."""
    return f"{_check(service, 'service')}-{_check(group, 'group')}-p{partition}"


def lease_prefix(stream: str, service: str) -> str:
    """Every key a service keeps in the lease bucket starts with this (leases, members, timers)."""
    return f"{stream}-{_check(service, 'service')}"


def lease_group(stream: str, service: str, group: str) -> str:
    """The key prefix of one consumer group's leases and member heartbeats, e.g. `TIAODU-scheduling.proj`."""
    return f"{lease_prefix(stream, service)}.{_check(group, 'group')}"


def timer_key(stream: str, service: str, timer: str) -> str:
    """The key of one timer's lease and last completed period, e.g. `TIAODU-scheduling.timer.daily_monitoring`."""
    return f"{lease_prefix(stream, service)}.timer.{_check(timer, 'timer')}"


def clock_key(stream: str) -> str:
    """The key of the platform clock's offset (development only, shared.platform_clock): every service reads it,
    the administrator creates it and scheduling moves it forward, e.g. `TIAODU-clock.offset`."""
    return f"{stream}-clock.offset"
