"""Run notification as its own process: `python -m services.notification`."""

from __future__ import annotations

from services.notification.bootstrap import SERVICE, create_app
from shared.serve import serve

if __name__ == "__main__":
    serve(SERVICE, create_app)
