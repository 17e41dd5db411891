"""The demo's seal and its downloadable bundle, through the public API (after every other seed).

    python -m services.audit.seed --base-url URL --token HQ_TOKEN

hq seals the demo history on demand (`POST /v1/audit/seals`: the seal timer seals every 5 minutes of the demo clock
too), then the seed downloads the demo programme's history bundle once to check it can be made, and says how an
auditor gets it and verifies it offline (README, docs/audit.md). A re-run seals only what is new.
"""

from __future__ import annotations

import argparse
import sys

import httpx

# Whose demo data this seed builds on (read by the runner, shared/devstack/seeds.py): the seal covers all of it.
SEED_AFTER: tuple[str, ...] = ("intake", "scheduling", "issue_coordination", "notification")

DEMO_PROGRAMME = "demo-2024-sanshi"  # services/intake/seed.py


class SeedError(RuntimeError):
    pass


def seed(base_url: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=120.0) as client:
        r = client.post("/v1/audit/seals")
        if r.status_code not in (200, 201):
            raise SeedError(f"seal: {r.status_code} {r.text}")
        seal = r.json()["seal"]
        r = client.get("/v1/audit/exports", params={"programme_id": DEMO_PROGRAMME})
        if r.status_code != 200:
            raise SeedError(f"bundle of {DEMO_PROGRAMME}: {r.status_code} {r.text}")
        events = len(r.json()["events"])
    print(f"audit: seal #{seal['seal_number']} covers events 1..{seal['tree_size']} (root {seal['root_hash'][:16]}…);"
          f" the bundle of {DEMO_PROGRAMME} holds {events} events:")  # fmt: skip
    print(f"  curl -H 'Authorization: Bearer <auditor token>' '{base_url}/v1/audit/exports?programme_id="
          f"{DEMO_PROGRAMME}' -o bundle.json && python tools/verify_bundle.py bundle.json")  # fmt: skip
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.audit.seed")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    try:
        sys.exit(seed(args.base_url, args.token))
    except SeedError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
