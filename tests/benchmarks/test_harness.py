"""The bench's own parts that decide whether its figures mean anything (the bench itself is `make bench`, not here).

- The generated history is one the platform accepts: every event of it is applied by intake's and scheduling's read
  models, none parked, as many as the generator says (the bench sizes its history by that count).
- The lag arithmetic pairs each acknowledgement with the first checkpoint move of its own partition covering it.
- The notification round pairs each expected notification with its webhook's first arrival, and a lost one makes the
  percentiles it reaches unmeasured, never better; and the round itself runs (its processes, the receiver, the
  flags appended through the generator's Writer) at a tiny size, so that a change it depends on fails here and not
  first in `make bench`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg

from services.intake.bootstrap import read_model as intake_read_model
from services.scheduling.bootstrap import read_model as scheduling_read_model
from shared.catalogue.ownership import SERVICES
from shared.devstack.embedded import Server
from shared.devstack.nats_config import ADMIN
from shared.eventstore import EventStore
from shared.rebuild import rebuild
from shared.settings import Settings
from tests.benchmarks.db_figures import CheckpointWatch
from tests.benchmarks.e2e_figures import Expected, bound_sentence, nearest_rank, pair, summary
from tests.benchmarks.generator import events_per_project, generate, register_programmes
from tests.benchmarks.notification_e2e import RoundConfig, round_alone
from tests.benchmarks.report import ratios, targets
from tests.benchmarks.servers import BenchServers


async def test_generated_history_is_applied_by_every_read_model_without_a_parked_event(
    settings: Settings, store: EventStore
) -> None:
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        programmes = await register_programmes(store)
        weeks = 60  # a project reporting across a year boundary: two plans
        written = await generate(store, first=0, count=5, weeks=weeks, inflight=3)
        assert written == sum(events_per_project(n, weeks) for n in range(5))
        last = await store.last_seq()
        assert last == programmes + written
        for name, read_model in (("intake", intake_read_model()), ("scheduling", scheduling_read_model())):
            result = await rebuild(pool, store, read_model, f"gen_{name}", until_seq=last)
            assert (result.applied, result.dead_lettered) == (last, 0), name
        reports = await pool.fetchval("SELECT count(DISTINCT report_id) FROM gen_intake.progress_reports")
        assert reports == 5 * weeks
    finally:
        await pool.close()


def test_lag_is_measured_to_the_first_covering_move_of_the_event_s_own_partition() -> None:
    watch = CheckpointWatch(conn=None, schema="intake")  # no connection: only the arithmetic is under test
    watch.moves = {0: [(10.000, 5), (10.050, 9)], 1: [(10.001, 7)]}
    acks = [(5, 10.002, 0), (8, 10.010, 0), (7, 10.0005, 1), (12, 10.0, 1)]
    lags, missing = watch.lags_ms(acks)
    assert [round(x, 3) for x in lags] == [0.0, 40.0, 0.5]
    assert missing == 1


def test_targets_are_judged_against_issue_7_thresholds() -> None:
    figures = {"commands_per_s": 1200.0, "eventsourcing_cached_per_s": 1000.0, "command_p99_ms": 49.0,
               "gateway_commands_per_s": 900.0, "peak_rss_mb": {"intake-api-1": 251.0, "bench": 900.0}}  # fmt: skip
    judged = targets(figures, ratios(figures))
    assert judged["commands_per_s"]["met"] is True
    assert judged["command_p99_ms"]["met"] is True
    assert judged["commands_vs_eventsourcing_cached"] == {"value": 1.2, "threshold": 1.5, "kind": "min", "met": False}
    assert judged["gateway_vs_direct"]["met"] is False
    assert judged["peak_rss_mb_max_service"]["value"] == 251.0  # the bench's own process is no service
    assert judged["projection_lag_p99_ms"]["met"] is None  # not measured: neither met nor missed
    # The generator is judged by the seconds a million events take at its rate, whatever the count it wrote.
    generator = {"generate_seconds": 110.0, "generate_seconds_for_1m": 121.0}
    generated = targets(generator, ratios(generator))
    assert generated["generate_seconds"] == {"value": 121.0, "threshold": 120, "kind": "max", "met": False}


def test_each_expected_notification_is_paired_with_its_webhook_s_first_arrival() -> None:
    expected = [Expected("ntf-a", 100.000, 100.050), Expected("ntf-b", 100.100), Expected("ntf-c", 100.200)]
    arrivals = {"ntf-a": 100.180, "ntf-b": 100.0999, "ntf-x": 101.0}  # b a hair early: two processes' clock reads
    paired = pair(expected, arrivals)
    assert [round(x, 3) for x in paired.latencies_ms] == [180.0, 0.0]
    assert (paired.lost, paired.unexpected) == (["ntf-c"], 1)
    assert [round(x, 3) for x in paired.routing_ms] == [50.0]  # only where the request's time is known
    assert [round(x, 3) for x in paired.delivery_ms] == [130.0]


async def test_the_notification_round_runs_at_a_tiny_size(
    servers: tuple[Server, Server], settings: Settings, tmp_path: Path
) -> None:
    """`make bench`'s notification round as it is, on the suite's servers: ten flags to two units' webhooks, each
    one received and verified. The suite's NATS has no users: the passwords the bench's service processes are
    given are not checked (the bench's own servers check them)."""
    nats_server, pg_server = servers
    passwords = {user: "unchecked" for user in [*SERVICES, ADMIN]}
    bench = BenchServers(tmp_path, nats_server, pg_server, passwords, settings)
    figures: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    config = RoundConfig(rate=20, seconds=0.5, units=2, projects_per_unit=1, drain_s=60)
    await round_alone(bench, tmp_path, figures, detail, config, split=False)  # raises on a lost notification
    assert (figures["notification_e2e_count"], figures["notification_e2e_lost"]) == (10, 0)
    assert figures["notification_e2e_p99_ms"] is not None
    done = detail["notification_e2e"]
    assert (done["expected"], done["bad_signatures"], done["unexpected"]) == (10, 0, 0)
    assert done["routing_ms"]["p99_ms"] is not None  # notification's read model recorded each request


def test_a_lost_notification_never_makes_a_percentile_better() -> None:
    assert nearest_rank([float(n) for n in range(1, 101)], 99) == 99.0
    assert nearest_rank([5.0, 1.0], 50) == 1.0
    arrived = [10.0] * 99
    assert summary(arrived) == {"p50_ms": 10.0, "p99_ms": 10.0, "max_ms": 10.0}
    # One of 100 lost: the p99 is still an arrival, the maximum is not measured.
    assert summary(arrived, lost=1) == {"p50_ms": 10.0, "p99_ms": 10.0, "max_ms": None}
    # Two of 100 lost: the p99 is a lost one, so it is not measured (the target is then neither met nor missed).
    assert summary([10.0] * 98, lost=2)["p99_ms"] is None
    assert summary([]) == {"p50_ms": None, "p99_ms": None, "max_ms": None}


def test_notification_latency_is_judged_against_issue_10_s_500_ms() -> None:
    for p99, met in ((499.9, True), (500.0, False), (None, None)):
        figures = {"notification_e2e_p99_ms": p99}
        judged = targets(figures, ratios(figures))["notification_e2e_p99_ms"]
        assert judged == {"value": p99, "threshold": 500.0, "kind": "max", "met": met}
    stage = {"p50_ms": 1.0, "p99_ms": 2.0, "max_ms": 3.0}
    detail = {"notification_e2e": {"received": 400, "expected": 400, "lost": 0, "repeats": 0, "bad_signatures": 0,
                                   "appended_per_s": 20.0, "routing_ms": stage, "delivery_ms": stage,
                                   "cpu_ms_per_notification": 4.2}}  # fmt: skip
    [line] = bound_sentence({"notification_e2e_p99_ms": 620.0}, detail)
    assert line.startswith("- Notification end to end (missed: p99 620.0 ms") and "400 of 400" in line
    assert bound_sentence({}, {}) == []


def test_as_of_is_judged_against_issue_11_s_50_ms() -> None:
    for p99, met in ((49.9, True), (50.0, False), (None, None)):
        figures = {"as_of_p99_ms": p99}
        judged = targets(figures, ratios(figures))["as_of_p99_ms"]
        assert judged == {"value": p99, "threshold": 50, "kind": "max", "met": met}
