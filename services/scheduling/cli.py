"""Operator commands of scheduling.

python -m services.scheduling.cli rebuild --schema scheduling_rebuild --compare scheduling   # from sequence 1
"""

from __future__ import annotations

import argparse

from services.scheduling.read_models import SERVICE, read_model
from shared.rebuild_processes import add_rebuild_command, run_rebuild_command
from shared.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.scheduling.cli")
    add_rebuild_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args()
    print(run_rebuild_command(args, Settings.from_env("scheduling-cli"), SERVICE, read_model))


if __name__ == "__main__":
    main()
