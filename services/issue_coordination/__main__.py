"""Run issue_coordination as its own process: `python -m services.issue_coordination`."""

from __future__ import annotations

from services.issue_coordination.bootstrap import SERVICE, create_app
from shared.serve import serve

if __name__ == "__main__":
    serve(SERVICE, create_app)
