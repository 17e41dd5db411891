"""What every service's demo seed (`services/<name>/seed.py`, run by `make run` in the order seeds.py finds) shares:
its command line (`python -m services.<name>.seed --base-url URL --token HQ_TOKEN`) and a loud stop on a refused
request, so that the runner sees a seed fail by its exit code and the reason on stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import httpx


class SeedError(RuntimeError):
    """The platform refused or never showed what the seed needs: the demo cannot be built."""


def check(r: httpx.Response, what: str, ok: tuple[int, ...] = (200, 201)) -> httpx.Response:
    if r.status_code not in ok:
        raise SeedError(f"{what}: {r.status_code} {r.text}")
    return r


def seed_main(prog: str, seed: Callable[[str, str], int]) -> None:
    """Parse the command line, run `seed(base_url, token)` and exit with its code (1 on a SeedError, said on stderr)."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    try:
        sys.exit(seed(args.base_url, args.token))
    except SeedError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
