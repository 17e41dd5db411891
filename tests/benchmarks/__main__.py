"""`make bench` (python -m tests.benchmarks): see tests/benchmarks/run.py."""

from __future__ import annotations

import asyncio

from tests.benchmarks.run import main

if __name__ == "__main__":
    asyncio.run(main())
