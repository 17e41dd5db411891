"""Operator commands of issue_coordination.

python -m services.issue_coordination.cli rebuild --schema issue_coordination_rebuild --compare issue_coordination
"""

from __future__ import annotations

import argparse

from services.issue_coordination.bootstrap import SERVICE, read_model
from shared.rebuild_processes import add_rebuild_command, run_rebuild_command
from shared.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.issue_coordination.cli")
    add_rebuild_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args()
    print(run_rebuild_command(args, Settings.from_env("issue-coordination-cli"), SERVICE, read_model))


if __name__ == "__main__":
    main()
