"""Partition leases in a JetStream key-value bucket, shared fairly among the live replicas of a service.

A lease is a compare-and-set record {owner, epoch, expires_at}; the KV revision at acquisition is the lease's
epoch, a fencing token that only grows. Leases are for efficiency only: correctness rests on the projection's
checkpoint row, which refuses a commit from any epoch but the newest (see shared.projection).
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

BUCKET = "tiaodu_leases"


def key_token(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", value)


@dataclass
class Held:
    epoch: int
    revision: int


class PartitionLeases:
    def __init__(self, kv: KeyValue, *, group: str, partitions: int, owner: str, ttl: float) -> None:
        self.kv = kv
        self.group = group  # shared.names.lease_group: already a valid key prefix, and it must stay the one granted
        self.partitions = partitions
        self.owner = key_token(owner)
        self.ttl = ttl
        self.held: dict[int, Held] = {}

    def _key(self, partition: int) -> str:
        return f"{self.group}.p{partition}"

    async def _heartbeat(self) -> int:
        """Record this replica as alive and count the live replicas of the group."""
        now = time.time()
        await self.kv.put(f"{self.group}.m.{self.owner}", json.dumps({"expires_at": now + self.ttl}).encode())
        alive = 0
        # A wildcard watch over this group's member keys: it delivers the current values, then None.
        watcher = await self.kv.watch(f"{self.group}.m.*", ignore_deletes=True)
        try:
            async for entry in watcher:
                if entry is None:
                    break
                if entry.value and json.loads(entry.value).get("expires_at", 0) > now:
                    alive += 1
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
        return max(alive, 1)

    async def tick(self) -> tuple[dict[int, int], set[int], list[int]]:
        """Renew, balance and acquire.

        Returns (newly acquired partition -> epoch, partitions lost, partitions to hand over). The caller stops
        its work on lost and surplus partitions, then calls `release` for the surplus ones.
        """
        alive = await self._heartbeat()
        target = math.ceil(self.partitions / alive)
        lost: set[int] = set()
        for partition in list(self.held):
            if not await self._renew(partition):
                lost.add(partition)
                del self.held[partition]
        surplus = sorted(self.held)[target:]
        acquired: dict[int, int] = {}
        for partition in range(self.partitions):
            if len(self.held) >= target:
                break
            if partition in self.held:
                continue
            epoch = await self._try_acquire(partition)
            if epoch is not None:
                acquired[partition] = epoch
        return acquired, lost, surplus

    def _value(self, epoch: int, expires_at: float) -> bytes:
        return json.dumps({"owner": self.owner, "epoch": epoch, "expires_at": expires_at}).encode()

    async def _try_acquire(self, partition: int) -> int | None:
        key = self._key(partition)
        now = time.time()
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            entry = None
        try:
            if entry is None or entry.value is None:
                revision = await self.kv.create(key, self._value(0, now + self.ttl))
            else:
                current = json.loads(entry.value) if entry.value else {}
                if current.get("expires_at", 0) > now and current.get("owner") != self.owner:
                    return None
                assert entry.revision is not None
                revision = await self.kv.update(key, self._value(0, now + self.ttl), last=entry.revision)
        except KeyWrongLastSequenceError:
            return None  # another replica won the race
        self.held[partition] = Held(epoch=revision, revision=revision)
        return revision

    async def _renew(self, partition: int) -> bool:
        held = self.held[partition]
        try:
            held.revision = await self.kv.update(
                self._key(partition), self._value(held.epoch, time.time() + self.ttl), last=held.revision
            )
        except KeyWrongLastSequenceError:
            return False
        return True

    async def release(self, partition: int) -> None:
        held = self.held.pop(partition, None)
        if held is None:
            return
        try:
            await self.kv.update(self._key(partition), self._value(held.epoch, 0.0), last=held.revision)
        except KeyWrongLastSequenceError:
            pass  # someone already took it over: nothing to hand back

    async def leave(self) -> None:
        for partition in list(self.held):
            await self.release(partition)
        try:
            await self.kv.delete(f"{self.group}.m.{self.owner}")
        except KeyNotFoundError:
            pass
