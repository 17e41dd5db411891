"""Partition leases in a JetStream key-value bucket, shared fairly among the live replicas of a consumer group.

A lease is a compare-and-set record {owner, expires_at} under `<group>.p<n>`; the live members of the group are one
compare-and-set record `<group>.members` ({owner: expires_at}), so a replica needs nothing but get/create/update on
its own service's keys (no watch, no consumer on the bucket: see docs/adr/0006).

Leases are for efficiency only. Correctness rests on the checkpoint row in PostgreSQL: each holder claims it with an
epoch that only grows (taken there, not from the bucket, so that a recreated bucket cannot make it go backwards), and
a commit from any other epoch is refused (shared.consumer).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from nats.js.kv import KeyValue

from shared.kv_records import read_record, write_record

MEMBER_UPDATE_ATTEMPTS = 5


@dataclass
class Held:
    revision: int  # KV revision of our last write: the compare-and-set guard of the next one


class PartitionLeases:
    def __init__(self, kv: KeyValue, *, group: str, partitions: int, owner: str, ttl: float) -> None:
        self.kv = kv
        self.group = group  # a key prefix from shared.names.lease_group
        self.partitions = partitions
        self.owner = owner
        self.ttl = ttl
        self.held: dict[int, Held] = {}

    def _key(self, partition: int) -> str:
        return f"{self.group}.p{partition}"

    async def _heartbeat(self, *, leaving: bool = False) -> list[str]:
        """Record this replica as alive (or gone); returns the live members of the group, sorted."""
        key = f"{self.group}.members"
        for _ in range(MEMBER_UPDATE_ATTEMPTS):
            now = time.time()
            members, revision = await read_record(self.kv, key)
            alive = {o: exp for o, exp in (members or {}).items() if exp > now and o != self.owner}
            if not leaving:
                alive[self.owner] = now + self.ttl
            if await write_record(self.kv, key, alive, revision) is not None:
                return sorted(alive)
        return [self.owner]  # heavy contention: count again next tick

    def target(self, members: list[str]) -> int:
        """This replica's fair share: P // n each, one more for the first P % n members (4 over 3: 2, 1, 1)."""
        n = max(len(members), 1)
        rank = members.index(self.owner) if self.owner in members else n - 1
        return self.partitions // n + (1 if rank < self.partitions % n else 0)

    async def tick(self) -> tuple[set[int], set[int], list[int]]:
        """Renew, balance and acquire.

        Returns (partitions newly acquired, partitions lost, partitions to hand over). The caller stops its work on
        lost and surplus partitions, then calls `release` for the surplus ones.
        """
        target = self.target(await self._heartbeat())
        lost: set[int] = set()
        for partition in list(self.held):
            if not await self._renew(partition):
                lost.add(partition)
                del self.held[partition]
        surplus = sorted(self.held)[target:]
        acquired: set[int] = set()
        for partition in range(self.partitions):
            if len(self.held) >= target:
                break
            if partition not in self.held and await self._try_acquire(partition):
                acquired.add(partition)
        return acquired, lost, surplus

    def _value(self, expires_at: float) -> dict[str, Any]:
        return {"owner": self.owner, "expires_at": expires_at}

    async def _try_acquire(self, partition: int) -> bool:
        key = self._key(partition)
        current, revision = await read_record(self.kv, key)
        if current is not None and current.get("expires_at", 0) > time.time() and current.get("owner") != self.owner:
            return False
        written = await write_record(self.kv, key, self._value(time.time() + self.ttl), revision)
        if written is None:
            return False  # another replica won the race
        self.held[partition] = Held(written)
        return True

    async def _renew(self, partition: int) -> bool:
        held = self.held[partition]
        written = await write_record(self.kv, self._key(partition), self._value(time.time() + self.ttl), held.revision)
        if written is None:
            return False
        held.revision = written
        return True

    async def release(self, partition: int) -> None:
        held = self.held.pop(partition, None)
        if held is not None:
            # Expired at once, so another replica may take it now; a lost race means it was taken already.
            await write_record(self.kv, self._key(partition), self._value(0.0), held.revision)

    async def leave(self) -> None:
        for partition in list(self.held):
            await self.release(partition)
        await self._heartbeat(leaving=True)
