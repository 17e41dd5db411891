"""Equal after rebuild: scheduling's read model folded again from the log (docs/adr/0012) holds the same evaluation
rules, recorded runs and ledger of facts, and a recomputation on the rebuilt tables gives the recorded scores (with
the parts a rule version adds: 督办 orders, decisions, weeks red, docs/adr/0037)."""

from __future__ import annotations

from services.scheduling.bootstrap import read_model
from services.scheduling.handlers_year_end import compute
from services.scheduling.read_model_year_end import evaluation_rule_set, recorded_evaluation
from services.scheduling.year_end_parts import Period
from shared.rebuild import diff_schemas, rebuild
from tests.scheduling.conftest import Platform
from tests.scheduling.year_end_history import ADDED_RULES, post, record_2024, script_2024, script_added

REBUILT = "scheduling_year_end_rebuild"


async def test_the_evaluation_is_equal_after_a_rebuild(platform: Platform) -> None:
    await script_added(platform, await script_2024(platform))
    await post(platform, "/v1/evaluation-rules", {"effective_from": "2024-12-31", "rules": ADDED_RULES}, "hq")
    await platform.synced()
    shown = await record_2024(platform)
    assert {u["rule_version"] for u in shown["items"]} == {2}
    rt = platform.scheduling_rt
    last = await rt.store.last_seq()
    await rebuild(rt.pool, rt.store, read_model(), REBUILT, until_seq=last)
    assert await diff_schemas(rt.pool, read_model(), rt.schema, REBUILT) == {}
    async with rt.pool.acquire() as conn:
        facts = await conn.fetchval(f"SELECT count(*) FROM {REBUILT}.year_end_facts")
        assert facts > 0
        state = await recorded_evaluation(conn, REBUILT, "prog-2024")
        assert state is not None and state.latest is not None
        recorded = state.latest
        rules = (await evaluation_rule_set(conn, REBUILT)).get(recorded.rule_version)
        assert rules is not None
        again = await compute(conn, REBUILT, "prog", Period(2024, recorded.as_of, recorded.known_at), rules)
    assert again.units == recorded.units
    assert {p.part for u in recorded.units for p in u.parts} == set(ADDED_RULES["weights"]) | {"red_weeks"}
    assert [(u.unit_id, str(u.score), u.rank) for u in recorded.units] == [
        (u["unit_id"], u["score"], u["rank"]) for u in shown["items"]]  # fmt: skip
