"""The sealer's Merkle tree and proofs (services/audit/merkle.py) and the offline verifier's proof checks
(tools/verify_bundle.py) against a second RFC 6962 implementation written from the RFC (rfc6962_reference.py)."""

from __future__ import annotations

import hashlib
import random

import pytest

from services.audit import merkle
from tests.audit import rfc6962_reference as ref
from tools import verify_bundle

LEAVES = [hashlib.sha256(f"event {i}".encode()).digest() for i in range(70)]


def stored_tree(n: int) -> tuple[merkle.Frontier, dict[merkle.NodeKey, bytes]]:
    """The tree of the first n leaves grown in uneven steps, as the sealer grows it between seals."""
    frontier, nodes, done = merkle.Frontier(0, ()), {}, 0
    rng = random.Random(n)
    while done < n:
        step = min(n - done, rng.randint(1, 9))
        frontier, completed = merkle.extend(frontier, LEAVES[done : done + step])
        nodes.update(completed)
        done += step
    return frontier, nodes


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 32, 33, 70])
def test_roots_and_proofs_agree_with_the_reference(n: int) -> None:
    frontier, nodes = stored_tree(n)
    assert frontier.root() == ref.mth(LEAVES[:n])
    for m in range(n):
        audit_path = [merkle.range_hash(lo, hi, nodes) for lo, hi in merkle.inclusion_ranges(m, n)]
        assert audit_path == ref.path(m, LEAVES[:n])
        assert ref.root_from_path(m, n, LEAVES[m], audit_path) == frontier.root()
        assert verify_bundle.root_from_inclusion(m, n, LEAVES[m], audit_path) == frontier.root()
    for m in range(1, n + 1):
        consistency = [merkle.range_hash(lo, hi, nodes) for lo, hi in merkle.consistency_ranges(m, n)]
        assert consistency == ref.proof(m, LEAVES[:n])
        old = ref.mth(LEAVES[:m])
        assert ref.roots_from_proof(m, n, old, consistency) == (old, frontier.root())
        verify_bundle.check_consistency(m, n, old, frontier.root(), consistency)
        merkle.check_consistency(m, n, old, frontier.root(), consistency)


def test_the_empty_tree_is_the_hash_of_nothing() -> None:
    assert merkle.Frontier(0, ()).root() == ref.mth([]) == hashlib.sha256(b"").digest()


def test_a_wrong_proof_is_refused_by_both_checkers() -> None:
    n, m = 21, 13
    root = ref.mth(LEAVES[:n])
    good = ref.path(m, LEAVES[:n])
    flipped = [good[0][:-1] + bytes([good[0][-1] ^ 1]), *good[1:]]
    assert verify_bundle.root_from_inclusion(m, n, LEAVES[m], flipped) != root
    assert verify_bundle.root_from_inclusion(m + 1, n, LEAVES[m], good) != root  # the right proof of another leaf
    with pytest.raises(ValueError, match="too short"):
        verify_bundle.root_from_inclusion(m, n, LEAVES[m], good[:-1])
    with pytest.raises(ValueError, match="too long"):
        verify_bundle.root_from_inclusion(m, n, LEAVES[m], [*good, good[0]])
    consistency = ref.proof(6, LEAVES[:n])
    with pytest.raises(ValueError, match="root"):
        verify_bundle.check_consistency(6, n, ref.mth(LEAVES[:5]), root, consistency)
    with pytest.raises(ValueError):
        verify_bundle.check_consistency(6, n, ref.mth(LEAVES[:6]), root, consistency[:-1])


def test_proof_ranges_are_built_from_stored_nodes_only() -> None:
    """Every subtree a proof names decomposes into aligned perfect subtrees, the only ones the sealer stores."""
    for n in range(1, 70):
        _, nodes = stored_tree(n)
        for m in range(n):
            assert merkle.nodes_needed(merkle.inclusion_ranges(m, n)) <= nodes.keys()
        for m in range(1, n + 1):
            assert merkle.nodes_needed(merkle.consistency_ranges(m, n)) <= nodes.keys()
