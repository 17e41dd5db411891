"""A unit's webhook receiver for the notification round, in its own process (the bench's event loop and the
service's stay out of its timing): it verifies each delivery with the Standard Webhooks library, as a unit's system
would, and records when each webhook-id first arrived.

`python -m tests.benchmarks.webhook_receiver '<job>'` takes {"port", "secrets": {org: "whsec_..."}} and serves
`POST /hooks/<org>` until it is stopped; `GET /count` answers how many distinct ids arrived verified, `GET /arrivals`
every id's first arrival (seconds since the epoch, taken before the body is read and verified) with the repeats,
bad signatures and unknown organisations counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from tests.benchmarks.processes import job_argument


@dataclass
class Arrivals:
    hooks: dict[str, Webhook]
    first: dict[str, float] = field(default_factory=dict)
    repeats: int = 0
    bad_signatures: int = 0
    unknown: int = 0

    async def receive(self, request: web.Request) -> web.Response:
        arrived = time.time()
        hook = self.hooks.get(request.match_info["org"])
        if hook is None:
            self.unknown += 1
            return web.Response(status=404, text="no such receiver")
        body = await request.read()
        try:
            hook.verify(body, dict(request.headers))  # signature and timestamp (within 5 minutes of this clock)
        except WebhookVerificationError as exc:
            self.bad_signatures += 1
            return web.Response(status=400, text=f"signature: {exc}")
        key = request.headers["webhook-id"]
        if key in self.first:
            self.repeats += 1  # the idempotency key at work: a receiver drops it
        else:
            self.first[key] = arrived
        return web.Response(status=204)

    async def count(self, _: web.Request) -> web.Response:
        return web.json_response({"count": len(self.first)})

    async def arrivals(self, _: web.Request) -> web.Response:
        return web.json_response({"first": self.first, "repeats": self.repeats,
                                  "bad_signatures": self.bad_signatures, "unknown": self.unknown})  # fmt: skip


def app(secrets: dict[str, str]) -> web.Application:
    arrivals = Arrivals({org: Webhook(secret) for org, secret in secrets.items()})
    application = web.Application()
    application.router.add_post("/hooks/{org}", arrivals.receive)
    application.router.add_get("/count", arrivals.count)
    application.router.add_get("/arrivals", arrivals.arrivals)
    return application


def main() -> None:
    job = job_argument()
    web.run_app(app(job["secrets"]), host="127.0.0.1", port=int(job["port"]), print=None, access_log=None)


if __name__ == "__main__":
    main()
