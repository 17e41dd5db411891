"""The administrator provisions the stream and the lease bucket; a service only verifies them and refuses a log
that could shrink or that is laid out differently, naming the field."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import nats
import pytest
from nats.js import JetStreamContext
from nats.js import api as js_api

from services.intake.bootstrap import create_app
from shared.names import LEASE_BUCKET
from shared.provision import KV_STREAM, ProvisioningError, StreamLayout, provision, verify
from shared.settings import Settings
from tests.platform import running


@pytest.fixture
async def js(settings: Settings) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(settings.nats_url)
    yield nc.jetstream()
    await nc.close()


def other_layout(settings: Settings, suffix: str, **changes: int) -> StreamLayout:
    prefix = f"{settings.subject_prefix}{suffix.lower()}"
    return StreamLayout(stream=f"{settings.stream}{suffix}", prefix=prefix, **changes)


async def test_the_suites_provisioning_passes_verification(settings: Settings, js: JetStreamContext) -> None:
    layout = StreamLayout.of(settings)
    await verify(js, layout)
    await provision(js, layout)  # a second run changes nothing and passes
    bucket = (await js.stream_info(KV_STREAM)).config
    assert bucket.allow_direct and bucket.num_replicas == layout.replicas


MUTATIONS = [
    ("max_msgs", {"max_msgs": 1}),
    ("max_bytes", {"max_bytes": 1 << 20}),
    ("max_msgs_per_subject", {"max_msgs_per_subject": 5}),
    ("max_age", {"max_age": 3600.0}),
    ("deny_purge", {"deny_purge": False}),
    ("deny_delete", {"deny_delete": False}),
    ("allow_direct", {"allow_direct": False}),
    ("storage", {"storage": js_api.StorageType.MEMORY}),
    ("retention", {"retention": js_api.RetentionPolicy.INTEREST}),
]


@pytest.mark.parametrize(("field", "change"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
async def test_a_stream_that_differs_is_refused_naming_the_field(
    settings: Settings, js: JetStreamContext, field: str, change: dict[str, object]
) -> None:
    layout = other_layout(settings, "M")
    await js.add_stream(dataclasses.replace(layout.stream_config(), **change))
    with pytest.raises(ProvisioningError) as refused:
        await verify(js, layout)
    assert refused.value.field == field and field in str(refused.value)
    with pytest.raises(ProvisioningError):  # the administrator's step never rewrites an existing log either
        await provision(js, layout)


async def test_a_stream_with_other_subjects_or_partitions_is_refused(settings: Settings, js: JetStreamContext) -> None:
    three = other_layout(settings, "P", partitions=3)
    await js.add_stream(three.stream_config())
    with pytest.raises(ProvisioningError, match=r"partitions \(subject_transform.dest\) is 3, expected 4"):
        await verify(js, dataclasses.replace(three, partitions=4))
    elsewhere = other_layout(settings, "S")
    await js.add_stream(dataclasses.replace(elsewhere.stream_config(), subjects=[f"{elsewhere.prefix}.other.>"]))
    with pytest.raises(ProvisioningError) as refused:
        await verify(js, elsewhere)
    assert refused.value.field == "subjects"


async def test_a_service_fails_clearly_without_a_provisioned_stream(settings: Settings, js: JetStreamContext) -> None:
    missing = dataclasses.replace(settings, stream=f"{settings.stream}NONE", subject_prefix="nowhere")
    with pytest.raises(ProvisioningError, match=r"does not exist: run `python -m shared\.provision`"):
        async with running(create_app(missing)):
            pass
    with pytest.raises(nats.js.errors.NotFoundError):  # the service created nothing itself
        await js.stream_info(missing.stream)


async def test_the_bucket_is_checked_and_fixed_by_the_administrator(settings: Settings, js: JetStreamContext) -> None:
    layout = StreamLayout.of(settings)
    bucket = (await js.stream_info(KV_STREAM)).config
    bucket.allow_direct = False  # as created by an older version: a get could then read any service's keys
    await js.update_stream(bucket)
    try:
        with pytest.raises(ProvisioningError) as refused:
            await verify(js, layout)
        assert refused.value.field == "allow_direct" and LEASE_BUCKET in str(refused.value)
    finally:
        await provision(js, layout)
    await verify(js, layout)
    assert (await js.stream_info(KV_STREAM)).config.allow_direct
