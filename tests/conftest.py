"""Real servers for the suite: one NATS (JetStream) and one PostgreSQL, started from the wheels for the session.

Tests are isolated by giving each its own stream, subject prefix and database, never by mocking.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import nats
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.devstack.embedded import Server, start_nats, start_postgres
from shared.devstack.pg_home import discard_data, remove_detached
from shared.eventstore import EventStore
from shared.provision import StreamLayout, provision_at
from shared.settings import Settings
from tests.gateway_upstreams import Upstream, issues_app, projects_app, start_upstream

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """Every span the suite's in-process services produce (set before any service installs its own provider)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[Server, Server]]:
    root = Path(tempfile.mkdtemp(prefix="tiaodu-test-"))
    nats_server = start_nats(root / "nats")
    pg_server = start_postgres(root / "pg", durable=False)  # thrown away at the end: nothing need reach the disk
    try:
        yield nats_server, pg_server
    finally:
        nats_server.discard()
        pg_server.discard()
        discard_data(root / "pg", in_background=True)
        remove_detached([root])  # the NATS store: a folder per stream, thousands at the end of the suite


async def fresh_settings(servers: tuple[Server, Server]) -> Settings:
    """Settings for a fresh, isolated platform: new stream, subject prefix and database."""
    nats_server, pg_server = servers
    n = next(_counter)
    database = f"t{n}"
    conn = await asyncpg.connect(pg_server.url)
    try:
        await conn.execute(f"CREATE DATABASE {database}")
    finally:
        await conn.close()
    base = pg_server.url.rsplit("/", 1)[0]
    settings = Settings(
        nats_url=nats_server.url,
        database_url=f"{base}/{database}",
        stream=f"T{n}",
        subject_prefix=f"t{n}",
        replica_id=f"test-{n}",
        lease_ttl_s=3.0,
    )
    # What `make run` and the deployment do as the admin user (the suite's server has no users).
    await provision_at(settings.nats_url, StreamLayout.of(settings))
    return settings


@pytest.fixture
async def settings(servers: tuple[Server, Server], spans: InMemorySpanExporter) -> Settings:
    """A fresh, isolated platform for each test."""
    return await fresh_settings(servers)


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[EventStore]:
    """The test's platform's event store, on a NATS connection of the test's own (closed after it)."""
    nc = await nats.connect(settings.nats_url)
    try:
        yield EventStore(nc.jetstream(), stream=settings.stream, prefix=settings.subject_prefix,
                         partitions=settings.partitions)  # fmt: skip
    finally:
        await nc.close()


@pytest.fixture(scope="module")
async def module_settings(servers: tuple[Server, Server], spans: InMemorySpanExporter) -> Settings:
    """One fresh, isolated platform for a module's tests that write nothing (each checks that it wrote nothing):
    they share the platform's start and seed instead of repeating them (see tests/intake/test_bad_input.py)."""
    return await fresh_settings(servers)


@pytest.fixture(scope="module")
async def upstreams() -> AsyncIterator[tuple[Upstream, Upstream]]:
    """Two real uvicorn upstreams (projects, issues) for the gateway's tests, shared by a module's tests."""
    projects, issues = await start_upstream(projects_app()), await start_upstream(issues_app())
    yield projects, issues
    await projects.stop()
    await issues.stop()
