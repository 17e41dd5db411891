"""RFC 6962 (Certificate Transparency) Merkle tree hashing, proofs and their verification (docs/audit.md).

Leaf i (0-based) is the 32-byte hash of the event at stream sequence i + 1; `leaf_hash = SHA-256(0x00 || leaf)`,
`node_hash = SHA-256(0x01 || left || right)`, and a tree of n leaves splits at the largest power of two below n.

The sealer keeps the tree's frontier (the roots of the perfect subtrees its size decomposes into, left to right), so
a new seal hashes only the leaves added since the last; every perfect, aligned subtree it completes is stored
(level, index) -> hash so that any proof is a handful of lookups (`inclusion_ranges`, `consistency_ranges` name the
subtrees a proof is made of, `perfect_parts` the stored nodes each is built from).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

Range = tuple[int, int]  # leaves [lo, hi)
NodeKey = tuple[int, int]  # (level, index): the perfect subtree of leaves [index * 2**level, (index + 1) * 2**level)


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def split_point(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


@dataclass(frozen=True)
class Frontier:
    """The compact range of a tree of `size` leaves: its perfect subtrees' roots, largest (leftmost) first."""

    size: int
    nodes: tuple[bytes, ...]

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        acc = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            acc = node_hash(node, acc)
        return acc

    def levels(self) -> list[int]:
        """The level (log2 of the size) of each node, matching `nodes`."""
        return [bit for bit in range(self.size.bit_length() - 1, -1, -1) if self.size >> bit & 1]


def extend(frontier: Frontier, leaves: Iterable[bytes]) -> tuple[Frontier, list[tuple[NodeKey, bytes]]]:
    """Append leaves (the events' 32-byte hashes) to a tree: its new frontier and every perfect subtree completed."""
    size = frontier.size
    stack = list(frontier.nodes)
    completed: list[tuple[NodeKey, bytes]] = []
    for leaf in leaves:
        node, level, index = leaf_hash(leaf), 0, size
        completed.append(((0, index), node))
        # The new leaf closes one perfect subtree per trailing one bit of the old size.
        while index & 1:
            node = node_hash(stack.pop(), node)
            level, index = level + 1, index >> 1
            completed.append(((level, index), node))
        stack.append(node)
        size += 1
    return Frontier(size, tuple(stack)), completed


def inclusion_ranges(m: int, n: int) -> list[Range]:
    """The subtrees of RFC 6962's PATH(m, D[0:n]), in proof order (nearest the leaf first)."""
    if not 0 <= m < n:
        raise ValueError(f"leaf {m} is not in a tree of {n} leaves")
    return _path(m, 0, n)


def _path(m: int, lo: int, hi: int) -> list[Range]:
    if hi - lo == 1:
        return []
    k = split_point(hi - lo)
    if m < k:
        return [*_path(m, lo, lo + k), (lo + k, hi)]
    return [*_path(m - k, lo + k, hi), (lo, lo + k)]


def consistency_ranges(m: int, n: int) -> list[Range]:
    """The subtrees of RFC 6962's PROOF(m, D[0:n]), in proof order."""
    if not 0 < m <= n:
        raise ValueError(f"no consistency proof from {m} to {n} leaves")
    return _subproof(m, 0, n, True)


def _subproof(m: int, lo: int, hi: int, whole: bool) -> list[Range]:
    if m == hi - lo:
        return [] if whole else [(lo, hi)]
    k = split_point(hi - lo)
    if m <= k:
        return [*_subproof(m, lo, lo + k, whole), (lo + k, hi)]
    return [*_subproof(m - k, lo + k, hi, False), (lo, lo + k)]


def perfect_parts(lo: int, hi: int) -> list[NodeKey]:
    """The stored perfect subtrees [lo, hi) is built from, left to right (as RFC 6962 splits it)."""
    parts: list[NodeKey] = []
    while lo < hi:
        size = hi - lo
        width = size if size & (size - 1) == 0 else split_point(size)
        if lo % width:
            raise ValueError(f"[{lo}, {hi}) is not a subtree of an RFC 6962 tree")
        parts.append((width.bit_length() - 1, lo // width))
        lo += width
    return parts


def range_hash(lo: int, hi: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    """MTH(D[lo:hi]) from the stored perfect subtrees it is built from."""
    hashes = [nodes[key] for key in perfect_parts(lo, hi)]
    acc = hashes[-1]
    for node in reversed(hashes[:-1]):
        acc = node_hash(node, acc)
    return acc


def nodes_needed(ranges: Iterable[Range]) -> set[NodeKey]:
    return {key for lo, hi in ranges for key in perfect_parts(lo, hi)}


# -- verification (RFC 9162 2.1.3.2 and 2.1.4.2: the same algorithms the offline verifier uses) ----------------


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to; ValueError when the proof has the wrong shape."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            raise ValueError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("inclusion proof is too short")
    return r


def check_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: Sequence[bytes]) -> None:
    """Raises ValueError (with the reason) unless `proof` shows tree `size2` extends tree `size1`."""
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency from {size1} to {size2} leaves")
    if size1 == size2:
        if proof:
            raise ValueError("a proof between equal sizes must be empty")
        if root1 != root2:
            raise ValueError("equal sizes but different roots")
        return
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    if not path:
        raise ValueError("empty consistency proof")
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ValueError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("consistency proof is too short")
    if fr != root1:
        raise ValueError("consistency proof does not lead to the first root")
    if sr != root2:
        raise ValueError("consistency proof does not lead to the second root")
