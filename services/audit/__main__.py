"""Run audit as its own process: `python -m services.audit`."""

from __future__ import annotations

from services.audit.bootstrap import SERVICE, create_app
from shared.serve import serve

if __name__ == "__main__":
    serve(SERVICE, create_app)
