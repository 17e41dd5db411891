"""Operator commands of notification.

python -m services.notification.cli rebuild --schema notification_rebuild --compare notification
"""

from __future__ import annotations

import argparse

from services.notification.bootstrap import SERVICE
from services.notification.read_model import read_model
from shared.rebuild_processes import add_rebuild_command, run_rebuild_command
from shared.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.notification.cli")
    add_rebuild_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args()
    print(run_rebuild_command(args, Settings.from_env("notification-cli"), SERVICE, read_model))


if __name__ == "__main__":
    main()
