"""What the seal timer and the seal endpoints share in one process: the signing key and the tables' readiness."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.audit.sealing import Sealer, create_tables
from services.audit.signing import Signer
from shared.runtime import Runtime

INDEX_WAIT_S = 10.0  # a seal waits this long for the event index to hold its leaves


@dataclass
class SealKeeper:
    signer: Signer
    _ready: set[str] = field(default_factory=set)

    async def sealer(self, rt: Runtime) -> Sealer:
        """The sealer over this runtime's log and schema, its tables made on first use (the seal timer may run
        before the API has served anything)."""
        if rt.schema not in self._ready:
            async with rt.pool.acquire() as conn:
                await create_tables(conn, rt.schema)
            self._ready.add(rt.schema)
        return Sealer(rt.store, rt.pool, rt.schema, rt.clock, self.signer,
                      index_reached=lambda seq: rt.runner.wait_for(seq, INDEX_WAIT_S))  # fmt: skip
