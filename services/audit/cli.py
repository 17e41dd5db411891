"""Operator commands of audit.

python -m services.audit.cli rebuild --schema audit_rebuild --compare audit
"""

from __future__ import annotations

import argparse

from services.audit.bootstrap import SERVICE
from services.audit.read_model import read_model
from shared.rebuild_processes import add_rebuild_command, run_rebuild_command
from shared.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.audit.cli")
    add_rebuild_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args()
    print(run_rebuild_command(args, Settings.from_env("audit-cli"), SERVICE, read_model))


if __name__ == "__main__":
    main()
