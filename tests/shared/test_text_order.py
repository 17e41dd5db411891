"""The embedded PostgreSQL compares text by code point in its own code (docs/adr/0046): every database it makes uses
the builtin C.UTF-8 provider, and text sorts as Python sorts strings, Chinese names and ASCII ids alike."""

from __future__ import annotations

import asyncpg

from shared.settings import Settings

WORDS = ["焦作市", "gen-000010", "Gen-000010", "gen-00001", "中站区", "_x", "-x", "Ａ", "z", "10", "9", "解放区", "é"]


async def test_databases_compare_text_by_code_point(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.database_url)
    try:
        provider, locale = await conn.fetchrow(
            "SELECT datlocprovider, datlocale FROM pg_database WHERE datname = current_database()"
        )
        assert (provider, locale) == (b"b", "C.UTF-8")
        ordered = await conn.fetchval("SELECT array_agg(w ORDER BY w) FROM unnest($1::text[]) AS w", WORDS)
        assert ordered == sorted(WORDS)
        # Character classes stay Unicode-aware (the builtin C.UTF-8 keeps ctype; plain "C" would not).
        assert await conn.fetchval("SELECT upper('é') || lower('Ａ')") == "Éａ"
    finally:
        await conn.close()
