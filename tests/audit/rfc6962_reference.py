"""A second RFC 6962 implementation, written for the tests from the RFC's recursive definitions alone, sharing no
code with services/audit/merkle.py or tools/verify_bundle.py: it checks their trees and proofs independently."""

from __future__ import annotations

import hashlib


def _h(prefix: bytes, *parts: bytes) -> bytes:
    digest = hashlib.sha256(prefix)
    for part in parts:
        digest.update(part)
    return digest.digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 section 2.1, straight from the definition."""
    if not leaves:
        return hashlib.sha256().digest()
    if len(leaves) == 1:
        return _h(b"\x00", leaves[0])
    k = _k(len(leaves))
    return _h(b"\x01", mth(leaves[:k]), mth(leaves[k:]))


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]), section 2.1.1."""
    n = len(leaves)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def proof(m: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]), section 2.1.2."""

    def sub(m: int, d: list[bytes], b: bool) -> list[bytes]:
        if m == len(d):
            return [] if b else [mth(d)]
        k = _k(len(d))
        if m <= k:
            return [*sub(m, d[:k], b), mth(d[k:])]
        return [*sub(m - k, d[k:], False), mth(d[:k])]

    return sub(m, leaves, True)


def root_from_path(m: int, n: int, leaf: bytes, audit_path: list[bytes]) -> bytes:
    """The root an audit path leads to, walking PATH's recursion backwards (not RFC 9162's bit loop)."""
    if n == 1:
        assert not audit_path, "audit path too long"
        return _h(b"\x00", leaf)
    assert audit_path, "audit path too short"
    k, sibling, rest = _k(n), audit_path[-1], audit_path[:-1]
    if m < k:
        return _h(b"\x01", root_from_path(m, k, leaf, rest), sibling)
    return _h(b"\x01", sibling, root_from_path(m - k, n - k, leaf, rest))


def roots_from_proof(m: int, n: int, old_root: bytes, consistency: list[bytes]) -> tuple[bytes, bytes]:
    """(old root, new root) a consistency proof leads to, walking PROOF's recursion backwards."""

    def walk(m: int, n: int, b: bool, rest: list[bytes]) -> tuple[bytes, bytes]:
        if m == n:
            if b:
                assert not rest, "consistency proof too long"
                return old_root, old_root
            assert len(rest) == 1, "consistency proof has the wrong length"
            return rest[0], rest[0]
        assert rest, "consistency proof too short"
        k, last = _k(n), rest[-1]
        if m <= k:
            old, new = walk(m, k, b, rest[:-1])
            return old, _h(b"\x01", new, last)
        old, new = walk(m - k, n - k, False, rest[:-1])
        return _h(b"\x01", last, old), _h(b"\x01", last, new)

    return walk(m, n, True, consistency)
