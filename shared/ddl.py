"""Schema set-up that takes no lock on a table it does not change.

Every process creates its read model's tables at start-up with `IF NOT EXISTS`, also beside a worker that is
applying batches (an API process of the same service, a second replica). PostgreSQL's `CREATE INDEX IF NOT EXISTS`
takes a SHARE lock on an existing table before it finds the index there, and `ALTER TABLE ... ADD COLUMN IF NOT
EXISTS` an ACCESS EXCLUSIVE one; inside the set-up's one transaction those locks pile up while a batch holds
others, and the two deadlock (seen when intake restarted beside a worker catching up a million events). Rewritten
here, each statement first looks in the catalogue (which locks nothing) and runs only when there is work to do.
"""

from __future__ import annotations

import re

_INDEX = re.compile(r"CREATE (UNIQUE )?INDEX IF NOT EXISTS (\w+) ON (\w+)\.(\w+) ([^;]*);")
_COLUMN = re.compile(r"ALTER TABLE (\w+)\.(\w+) ADD COLUMN IF NOT EXISTS (\w+) ([^;]*);")


def _index(m: re.Match[str]) -> str:
    unique, name, schema, table, rest = m[1] or "", m[2], m[3], m[4], m[5]
    return (
        f"DO $ddl$ BEGIN IF to_regclass('{schema}.{name}') IS NULL THEN"
        f" CREATE {unique}INDEX IF NOT EXISTS {name} ON {schema}.{table} {rest}; END IF; END $ddl$;"
    )


def _column(m: re.Match[str]) -> str:
    schema, table, column, rest = m[1], m[2], m[3], m[4]
    return (
        "DO $ddl$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE"
        f" table_schema = '{schema}' AND table_name = '{table}' AND column_name = '{column}') THEN"
        f" ALTER TABLE {schema}.{table} ADD COLUMN IF NOT EXISTS {column} {rest}; END IF; END $ddl$;"
    )


def lock_free_when_done(sql: str) -> str:
    """`sql` with each index and added column guarded by a catalogue check (see the module's docstring)."""
    return _COLUMN.sub(_column, _INDEX.sub(_index, sql))
