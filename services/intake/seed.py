"""Seed the demo programme through the public API: `python -m services.intake.seed --base-url URL --token HQ`.

Everything goes through HTTP as a client would, with Idempotency-Keys, so a re-run appends nothing twice.
"""

from __future__ import annotations

import sys
from datetime import date

from services.intake.demo_data import LOCATIONS, PROJECTS
from shared.devstack.seed_client import seed_http_client, seed_main

# Whose demo data this seed builds on (read by the runner, shared/devstack/seeds.py): none, it comes first.
SEED_AFTER: tuple[str, ...] = ()

PROGRAMME_ID = "demo-2024-sanshi"
CATEGORY_SERIAL = {"industrial": 100001, "infrastructure": 200001, "livelihood": 300001}


def project_body(category: str, index: int, row: tuple[str, str, str, int, int, str, int]) -> dict[str, object]:
    name, unit, leader, total, annual, kind, start_month = row
    return {
        "id": f"demo-{category[:3]}-{index + 1:02d}",
        "programme_id": PROGRAMME_ID,
        "code": f"2024-410800-{30 + index:02d}-0{1 + index % 3}-{CATEGORY_SERIAL[category] + index:06d}",
        "name": name,
        "category": category,
        "unit_id": unit,
        "sponsor_leader_id": leader,
        "location": LOCATIONS[index % len(LOCATIONS)],
        "construction_content": f"{name}:演示数据,非真实项目。",
        "construction_type": kind,
        "total_investment": str(total),
        "annual_planned_investment": str(annual),
        "planned_start": date(2024, start_month, 1).isoformat(),
        "planned_completion": date(2026, 12, 31).isoformat(),
        "task_force": {
            "lead": {"name": "专班组长(演示)", "org_id": unit, "title": "组长"},
            "members": [{"name": "专班成员(演示)", "org_id": "unit-fgw", "title": "成员"}],
        },
        "demo": True,
    }


def seed(base_url: str, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    with seed_http_client(base_url, headers=headers, timeout=30) as client:
        r = client.post(
            "/v1/programmes",
            json={
                "id": PROGRAMME_ID,
                "name": "2024 三十工程(演示)",
                "year": 2024,
                "demo": True,
                "description": "十大工业、十大基础设施、十大民生项目(演示数据)",
            },
            headers={"Idempotency-Key": "seed-programme"},
        )
        if r.status_code != 201:  # a re-run is answered 201 again through its Idempotency-Key
            print(f"programme: {r.status_code} {r.text}", file=sys.stderr)
            return 1
        last_seq = r.json().get("seq", 0)
        # The projects reference the programme: wait until intake's read model has it.
        client.get(f"/v1/programmes/{PROGRAMME_ID}", params={"min_seq": last_seq, "wait_ms": 10000})
        count = 0
        for category, rows in PROJECTS.items():
            for index, row in enumerate(rows):
                body = project_body(category, index, row)
                r = client.post("/v1/projects", json=body, headers={"Idempotency-Key": f"seed-{body['id']}"})
                if r.status_code != 201:
                    print(f"{body['id']}: {r.status_code} {r.text}", file=sys.stderr)
                    return 1
                count += 1
                last_seq = max(last_seq, r.json().get("seq", 0))
        # Return only when the demo is readable: the read model has caught up with the last write.
        r = client.get("/v1/projects", params={"min_seq": last_seq, "wait_ms": 15000, "limit": 1})
        if r.status_code != 200:
            print(f"demo data not readable: {r.status_code} {r.text}", file=sys.stderr)
            return 1
    print(f"seeded {count} demo projects")
    return 0


def main() -> None:
    seed_main("python -m services.intake.seed", seed)


if __name__ == "__main__":
    main()
