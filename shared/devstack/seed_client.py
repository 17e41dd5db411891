"""What every service's demo seed (`services/<name>/seed.py`, run by `make run` in the order seeds.py finds) shares:
its command line (`python -m services.<name>.seed --base-url URL --token HQ_TOKEN`) and a loud stop on a refused
request, so that the runner sees a seed fail by its exit code and the reason on stderr."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

# A keep-alive connection the gateway or a service closed just as the seed reused it fails the request with a
# transport error before anything was done (or, on a timeout, after): a request safe to repeat is sent again.
TRANSPORT_RETRIES = 3
RETRY_PAUSE_S = 0.5
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SeedError(RuntimeError):
    """The platform refused or never showed what the seed needs: the demo cannot be built."""


def check(r: httpx.Response, what: str, ok: tuple[int, ...] = (200, 201)) -> httpx.Response:
    if r.status_code not in ok:
        raise SeedError(f"{what}: {r.status_code} {r.text}")
    return r


class RetryingTransport(httpx.HTTPTransport):
    """Sends a request again after a transport error when repeating it cannot do anything twice: a read, or a write
    carrying an Idempotency-Key (the platform answers a repeat with the first result). Anything else fails at once."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        repeatable = request.method in SAFE_METHODS or "Idempotency-Key" in request.headers
        for attempt in range(TRANSPORT_RETRIES + 1):
            try:
                return super().handle_request(request)
            except httpx.TransportError:
                if not repeatable or attempt == TRANSPORT_RETRIES:
                    raise
                time.sleep(RETRY_PAUSE_S * (attempt + 1))
        raise AssertionError("unreachable")


def seed_http_client(base_url: str, **kwargs: Any) -> httpx.Client:
    """The HTTP client every demo seed uses: the platform's base URL, and repeatable requests retried."""
    return httpx.Client(base_url=base_url, transport=RetryingTransport(), **kwargs)


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
