"""Write the event catalogue as JSON Schema: `python -m shared.catalogue.export docs/events.schema.json`.

The file is committed so units can code against it; a test fails when it is out of date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shared.catalogue import CATALOGUE


def render() -> str:
    return json.dumps(CATALOGUE.json_schema(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m shared.catalogue.export <path>")
    Path(sys.argv[1]).write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
