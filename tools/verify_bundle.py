#!/usr/bin/env python3
"""Offline verifier of a Tiaodu history bundle (docs/audit.md, "历史包 / history bundle").

    python verify_bundle.py bundle.json [--trusted-key KEY]...

Needs standard Python 3.11+, `rfc8785` and `cryptography`, and the bundle alone: it imports nothing from Tiaodu.
It checks, in this order, and stops at the first broken link, naming it:
1. the bundle's shape, and the public keys (against the trusted keys, when given with --trusted-key);
2. each seal's Ed25519 signature over the RFC 8785 JSON of the seal without `signature`;
3. the RFC 6962 consistency proof between each two consecutive seals;
4. the export manifest's signature;
5. the listing: its SHA-256 is the one the manifest signed, and it agrees with the manifest's aggregates;
6. each event in stream order: its hash (SHA-256 of the RFC 8785 JSON of the stored event without `hash`), its
   subject, its aggregate (one the manifest names: a `chain` is checked for version continuity and `prev_hash`, an
   `events` aggregate's events stand alone), its RFC 6962 inclusion proof in the newest seal;
7. that the events are exactly the ones the listing names.
Exit status 0: every check passed; 1: a check failed (the line starting `BROKEN` says which and where).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = "tiaodu-history-bundle/2"
BUNDLE_KEYS = {"format", "manifest", "manifest_signature", "public_keys", "seals", "consistency", "listing", "events"}
SEAL_KEYS = {"stream", "seal_number", "tree_size", "root_hash", "sealed_at", "key_id", "algorithm", "trigger",
             "signature"}  # fmt: skip
EVENT_KEYS = {"seq", "subject", "stored", "inclusion"}
MANIFEST_KEYS = {"stream", "scope", "projects", "complete_histories", "exported_at", "seal_number", "tree_size",
                 "key_id", "aggregates", "events", "listing_sha256"}  # fmt: skip
AGGREGATE_KEYS = {"aggregate_type", "aggregate_id", "reason", "mode", "first_version", "last_version", "events"}

Listed = tuple[int, str, str, str, int]  # a listing entry: seq, hash, aggregate type, aggregate id, version
Aggregate = tuple[str, str]


class Broken(Exception):
    """The first broken link; the message says what and where."""


# -- RFC 6962 / RFC 9162 -----------------------------------------------------------------------------------------


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """RFC 9162 2.1.3.2: the root an inclusion proof of leaf `index` in a tree of `size` leaves leads to."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            raise ValueError("the proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("the proof is too short")
    return r


def check_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]) -> None:
    """RFC 9162 2.1.4.2; raises ValueError with the reason."""
    if not 0 < size1 <= size2:
        raise ValueError(f"tree sizes {size1} -> {size2} do not grow")
    if size1 == size2:
        if proof or root1 != root2:
            raise ValueError("equal tree sizes need equal roots and an empty proof")
        return
    path = ([root1] if size1 & (size1 - 1) == 0 else []) + proof
    if not path:
        raise ValueError("the proof is empty")
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ValueError("the proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ValueError("the proof is too short")
    if fr != root1:
        raise ValueError("the proof does not lead to the earlier seal's root")
    if sr != root2:
        raise ValueError("the proof does not lead to the later seal's root")


# -- small readers ----------------------------------------------------------------------------------------------


def hex32(value: Any, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32 or value != raw.hex():
        raise Broken(f"{what} is not 64 lower-case hex digits")
    return raw


def b64(value: Any, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True) if isinstance(value, str) else b""
    except binascii.Error:
        raise Broken(f"{what} is not base64") from None


def keys_exactly(obj: Any, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict) or set(obj) != keys:
        got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise Broken(f"{what} must have exactly the members {sorted(keys)}, has {got}")
    return obj


def integer(value: Any, what: str, minimum: int = 0) -> int:
    if type(value) is not int or value < minimum:
        raise Broken(f"{what} is not an integer >= {minimum}")
    return value


def public_key(raw: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(raw)


def key_id_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()[:16]


def verify_signature(keys: dict[str, bytes], key_id: Any, signature: Any, document: Any, what: str) -> None:
    if key_id not in keys:
        raise Broken(f"{what} is signed with key {key_id!r}, which the bundle does not publish")
    try:
        public_key(keys[key_id]).verify(b64(signature, f"{what}'s signature"), rfc8785.dumps(document))
    except InvalidSignature:
        raise Broken(f"{what}: the Ed25519 signature does not verify with key {key_id}") from None


# -- the checks -------------------------------------------------------------------------------------------------


def load_keys(bundle: dict[str, Any], trusted: list[bytes]) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    if not isinstance(bundle["public_keys"], list) or not bundle["public_keys"]:
        raise Broken("public_keys is not a non-empty list")
    for i, entry in enumerate(bundle["public_keys"]):
        entry = keys_exactly(entry, {"key_id", "algorithm", "public_key"}, f"public_keys[{i}]")
        raw = b64(entry["public_key"], f"public_keys[{i}].public_key")
        if entry["algorithm"] != "Ed25519" or len(raw) != 32:
            raise Broken(f"public_keys[{i}] is not a 32-byte Ed25519 key")
        if entry["key_id"] != key_id_of(raw):
            raise Broken(f"public_keys[{i}]: key_id {entry['key_id']!r} is not the key's id {key_id_of(raw)}")
        if trusted and raw not in trusted:
            raise Broken(f"public key {entry['key_id']} in the bundle is not one of the trusted keys")
        keys[entry["key_id"]] = raw
    return keys


def check_seals(bundle: dict[str, Any], keys: dict[str, bytes]) -> list[dict[str, Any]]:
    seals = bundle["seals"]
    if not isinstance(seals, list) or not seals:
        raise Broken("seals is not a non-empty list")
    stream = bundle["manifest"]["stream"]
    for i, seal in enumerate(seals):
        keys_exactly(seal, SEAL_KEYS, f"seals[{i}]")
        number = integer(seal["seal_number"], f"seals[{i}].seal_number", 1)
        what = f"seal #{number}"
        integer(seal["tree_size"], f"{what} tree_size", 1)
        hex32(seal["root_hash"], f"{what} root_hash")
        if seal["stream"] != stream or seal["algorithm"] != "Ed25519":
            raise Broken(f"{what} names stream {seal['stream']!r} / {seal['algorithm']!r}, not {stream!r} / Ed25519")
        if i and number != seals[i - 1]["seal_number"] + 1:
            raise Broken(f"{what} does not follow seal #{seals[i - 1]['seal_number']}: a seal is missing or moved")
        unsigned = {k: v for k, v in seal.items() if k != "signature"}
        verify_signature(keys, seal["key_id"], seal["signature"], unsigned, what)
    return seals


def check_consistency_proofs(bundle: dict[str, Any], seals: list[dict[str, Any]]) -> None:
    proofs = bundle["consistency"]
    if not isinstance(proofs, list) or len(proofs) != len(seals) - 1:
        raise Broken(f"consistency must hold {len(seals) - 1} proofs, one between each two consecutive seals")
    for i, (earlier, later) in enumerate(itertools.pairwise(seals)):
        entry = keys_exactly(proofs[i], {"first", "second", "proof"}, f"consistency[{i}]")
        what = f"consistency proof seal #{earlier['seal_number']} -> seal #{later['seal_number']}"
        if (entry["first"], entry["second"]) != (earlier["seal_number"], later["seal_number"]):
            raise Broken(f"consistency[{i}] is not the proof between seal #{earlier['seal_number']} and the next")
        path = [hex32(p, f"{what}, node {j}") for j, p in enumerate(entry["proof"] or [])]
        try:
            check_consistency(earlier["tree_size"], later["tree_size"], bytes.fromhex(earlier["root_hash"]),
                              bytes.fromhex(later["root_hash"]), path)  # fmt: skip
        except ValueError as exc:
            raise Broken(f"{what} (tree {earlier['tree_size']} -> {later['tree_size']}): {exc}") from None


def check_manifest(bundle: dict[str, Any], keys: dict[str, bytes], newest: dict[str, Any]) -> dict[str, Any]:
    manifest = bundle["manifest"]
    if (manifest["seal_number"], manifest["tree_size"]) != (newest["seal_number"], newest["tree_size"]):
        raise Broken(f"the manifest names seal #{manifest['seal_number']} of {manifest['tree_size']} events, "
                     f"the newest seal in the bundle is #{newest['seal_number']} of {newest['tree_size']}")  # fmt: skip
    verify_signature(keys, manifest["key_id"], bundle["manifest_signature"], manifest, "the export manifest")
    return dict(manifest)


def describe(event: dict[str, Any], doc: dict[str, Any] | None = None) -> str:
    where = f"event seq {event.get('seq')}"
    if doc:
        where += f" ({doc.get('aggregate_type')}/{doc.get('aggregate_id')} version {doc.get('version')}"
        where += f", {doc.get('type')})"
    return where


def check_listing(bundle: dict[str, Any], manifest: dict[str, Any]) -> dict[Aggregate, dict[str, Any]]:
    """The listing is the one the manifest signed, and agrees with the manifest's aggregates; returns those."""
    listing = bundle["listing"]
    if not isinstance(listing, list):
        raise Broken("listing is not a list")
    digest = hashlib.sha256(rfc8785.dumps(listing)).hexdigest()
    if digest != manifest["listing_sha256"]:
        signed = manifest["listing_sha256"]
        raise Broken(f"the listing is not the one the signed manifest commits to (its SHA-256 is {digest}, "
                     f"the manifest signed {signed}): an event was added to it or left out")  # fmt: skip
    if manifest["events"] != len(listing):
        raise Broken(f"the manifest counts {manifest['events']} events, the listing names {len(listing)}")
    aggregates: dict[Aggregate, dict[str, Any]] = {}
    for i, entry in enumerate(manifest["aggregates"] if isinstance(manifest["aggregates"], list) else [None]):
        entry = keys_exactly(entry, AGGREGATE_KEYS, f"manifest aggregates[{i}]")
        key = (entry["aggregate_type"], entry["aggregate_id"])
        if entry["mode"] not in ("chain", "events") or entry["reason"] not in ("scope", "rules", "actor"):
            raise Broken(f"manifest aggregates[{i}] ({key[0]}/{key[1]}): unknown mode or reason")
        if key in aggregates:
            raise Broken(f"the manifest names {key[0]}/{key[1]} twice")
        aggregates[key] = entry
    versions: dict[Aggregate, list[int]] = {}
    last_seq = 0
    for i, item in enumerate(listing):
        if not (isinstance(item, list) and len(item) == 5 and all(isinstance(x, str) for x in item[1:4])):
            raise Broken(f"listing[{i}] is not [seq, hash, aggregate_type, aggregate_id, version]")
        seq, version = integer(item[0], f"listing[{i}] seq", 1), integer(item[4], f"listing[{i}] version", 1)
        hex32(item[1], f"listing[{i}] hash")
        if seq <= last_seq:
            raise Broken(f"listing[{i}] (seq {seq}) comes after seq {last_seq}: the listing is not in stream order")
        last_seq = seq
        if (item[2], item[3]) not in aggregates:
            raise Broken(f"listing[{i}] (seq {seq}) is of {item[2]}/{item[3]}, an aggregate the manifest does not name")
        versions.setdefault((item[2], item[3]), []).append(version)
    for key, entry in aggregates.items():
        name, got = f"{key[0]}/{key[1]}", versions.get(key, [])
        first, last = entry["first_version"], entry["last_version"]
        if not got or (len(got), got[0], max(got)) != (entry["events"], first, last):
            held = f"{len(got)}" + (f" (versions {got[0]}..{max(got)})" if got else "")
            raise Broken(f"the manifest declares {entry['events']} events of {name} (versions {first}..{last}), "
                         f"the listing names {held}")  # fmt: skip
        if any(b <= a for a, b in itertools.pairwise(got)):
            raise Broken(f"the listing names versions of {name} out of order")
        if entry["mode"] == "chain" and got != list(range(first, last + 1)):
            raise Broken(f"the manifest declares {name} a chain, but the listing skips versions of it")
        if entry["mode"] == "chain" and manifest["complete_histories"] is True and first != 1:
            raise Broken(f"the history of {name} starts at version {first}: versions before it are missing")
    return aggregates


def check_events(bundle: dict[str, Any], newest: dict[str, Any], aggregates: dict[Aggregate, dict[str, Any]]
                 ) -> list[Listed]:  # fmt: skip
    events = bundle["events"]
    if not isinstance(events, list):
        raise Broken("events is not a list")
    size, root = newest["tree_size"], bytes.fromhex(newest["root_hash"])
    heads: dict[Aggregate, tuple[int, str, int]] = {}  # aggregate -> (version, hash, seq) of its last event
    seen: list[Listed] = []
    last_seq = 0
    for i, event in enumerate(events):  # the order first: a swap is named as one, not as the chain break it causes
        keys_exactly(event, EVENT_KEYS, f"events[{i}]")
        seq = integer(event["seq"], f"events[{i}].seq", 1)
        if seq <= last_seq:
            raise Broken(f"events[{i}] (seq {seq}) comes after seq {last_seq}: the events are not in stream order")
        last_seq = seq
    for event in events:
        seq = event["seq"]
        if not isinstance(event["stored"], str):
            raise Broken(f"{describe(event)}: stored is not the event's JSON text")
        try:
            doc = json.loads(event["stored"])
        except json.JSONDecodeError as exc:
            raise Broken(f"{describe(event)}: the stored event is not JSON ({exc})") from None
        if not isinstance(doc, dict) or "hash" not in doc:
            raise Broken(f"{describe(event)}: the stored event is not an envelope with a hash")
        where = describe(event, doc)
        computed = hashlib.sha256(rfc8785.dumps({k: v for k, v in doc.items() if k != "hash"})).hexdigest()
        if doc["hash"] != computed:
            raise Broken(f"{where}: its content does not hash to its hash (stored {doc['hash']}, computed {computed})")
        parts = event["subject"].split(".") if isinstance(event["subject"], str) else []
        if len(parts) != 5 or parts[1] != "evp" or (parts[3], parts[4]) != (doc["aggregate_type"], doc["aggregate_id"]):
            raise Broken(f"{where}: stored subject {event['subject']!r} is not that aggregate's")
        key = (doc["aggregate_type"], doc["aggregate_id"])
        if key not in aggregates:
            raise Broken(f"{where}: {key[0]}/{key[1]} is not an aggregate the manifest names")
        check_link(where, key, doc, heads.get(key), aggregates[key])
        heads[key] = (doc["version"], doc["hash"], seq)
        if seq > size:
            raise Broken(f"{where}: not covered by the newest seal #{newest['seal_number']} (seqs 1..{size})")
        proof = [hex32(p, f"{where}: inclusion proof node {j}") for j, p in enumerate(event["inclusion"] or [])]
        try:
            reached = root_from_inclusion(seq - 1, size, bytes.fromhex(computed), proof)
        except ValueError as exc:
            raise Broken(f"{where}: inclusion proof in seal #{newest['seal_number']}: {exc}") from None
        if reached != root:
            raise Broken(f"{where}: its inclusion proof does not lead to the root of seal #{newest['seal_number']}")
        seen.append((seq, computed, key[0], key[1], doc["version"]))
    return seen


def check_link(where: str, key: Aggregate, doc: dict[str, Any], head: tuple[int, str, int] | None,
               declared: dict[str, Any]) -> None:  # fmt: skip
    """A chain: versions first..last without a gap, each `prev_hash` the previous hash (none before version 1). An
    `events` aggregate: its events stand alone (each proved by its inclusion), versions rising; two consecutive
    versions still link."""
    version = doc.get("version")
    name = f"{key[0]}/{key[1]}"
    if type(version) is not int or version < 1:
        raise Broken(f"{where}: version {version!r} is not a positive integer")
    if head is None:
        if version == 1 and doc.get("prev_hash") is not None:
            raise Broken(f"{where}: version 1 of {name} has a prev_hash")
        if declared["mode"] == "chain" and version != declared["first_version"]:
            raise Broken(f"{where}: the history of {name} starts at version {version}, the manifest declares "
                         f"{declared['first_version']}: versions before it are missing")  # fmt: skip
        return
    last_version, last_hash, last_seq = head
    if declared["mode"] == "events" and version > last_version + 1:
        return  # the versions between belong to other scopes
    if version != last_version + 1:
        if version > last_version + 1:
            missing = f"version {last_version + 1}" if version == last_version + 2 else \
                f"versions {last_version + 1}..{version - 1}"  # fmt: skip
            raise Broken(f"{where}: {name} {missing} missing between seq {last_seq} and this event")
        raise Broken(f"{where}: version {version} cannot follow version {last_version} (seq {last_seq}) of {name}")
    if doc.get("prev_hash") != last_hash:
        raise Broken(f"{where}: prev_hash is not the hash of {name} version {last_version} (seq {last_seq})")


def check_listed(bundle: dict[str, Any], seen: list[Listed]) -> None:
    """The events are exactly those the (signed) listing names."""
    listed = [tuple(item) for item in bundle["listing"]]
    names = set(listed)
    for item in seen:
        if item not in names:
            raise Broken(f"event seq {item[0]} ({item[2]}/{item[3]} version {item[4]}) is not one the signed "
                         "listing names")  # fmt: skip
    missing = sorted(names - set(seen))
    if missing:
        seq, digest, kind, ident, version = missing[0]
        raise Broken(f"event seq {seq} ({kind}/{ident} version {version}, hash {digest}) is in the signed listing "
                     f"but missing from the bundle")  # fmt: skip


def verify(bundle: Any, trusted: list[bytes]) -> str:
    """Returns a one-line summary; raises Broken at the first broken link."""
    keys_exactly(bundle, BUNDLE_KEYS, "the bundle")
    if bundle["format"] != FORMAT:
        raise Broken(f"format {bundle['format']!r} is not {FORMAT!r}")
    manifest = keys_exactly(bundle["manifest"], MANIFEST_KEYS, "the manifest")
    keys = load_keys(bundle, trusted)
    seals = check_seals(bundle, keys)
    check_consistency_proofs(bundle, seals)
    newest = seals[-1]
    check_manifest(bundle, keys, newest)
    aggregates = check_listing(bundle, manifest)
    seen = check_events(bundle, newest, aggregates)
    check_listed(bundle, seen)
    chains = sum(1 for a in aggregates.values() if a["mode"] == "chain")
    return (f"OK: {len(seen)} events of {len(aggregates)} aggregates ({chains} whole chains, "
            f"{len(aggregates) - chains} with single events); seals #{seals[0]['seal_number']}.."
            f"#{newest['seal_number']} consistent; newest seal covers seqs 1..{newest['tree_size']}, "
            f"root {newest['root_hash']}, key {newest['key_id']}")  # fmt: skip


def read_trusted(values: list[str]) -> list[bytes]:
    """A trusted key: base64 of the 32 raw bytes, or a file holding that (as /v1/audit/public-key publishes it)."""
    keys = []
    for value in values:
        text = Path(value).read_text().strip() if Path(value).is_file() else value
        raw = base64.b64decode(text, validate=True)
        if len(raw) != 32:
            raise SystemExit(f"--trusted-key {value!r} is not a 32-byte Ed25519 public key in base64")
        keys.append(raw)
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a Tiaodu history bundle offline.")
    parser.add_argument("bundle", type=Path)
    parser.add_argument(
        "--trusted-key",
        action="append",
        default=[],
        help="base64 Ed25519 public key (or a file with it); the bundle's keys must be among them",
    )
    args = parser.parse_args(argv)
    trusted = read_trusted(args.trusted_key)
    try:
        bundle = json.loads(args.bundle.read_bytes())
        print(verify(bundle, trusted))
        return 0
    except Broken as exc:
        print(f"BROKEN: {exc}")
        return 1
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"BROKEN: the bundle cannot be read: {exc}")
        return 1
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        print(f"BROKEN: the bundle is malformed ({type(exc).__name__}: {exc})")
        return 1


if __name__ == "__main__":
    sys.exit(main())
