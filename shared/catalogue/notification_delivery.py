"""Events of the delivery engine beside those of the inbox (shared.catalogue.notification): a dead letter resent
by hq, and a notification held for its recipient's digest. Both live on the recipient's `inbox` subject and name the
`notification_id`, like every step of a notification."""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictInt

from shared.catalogue.notification import Digest
from shared.catalogue.registry import event


@event("DeliveryResendRequested", aggregate="inbox")
class DeliveryResendRequested(BaseModel):
    """hq resends a dead letter: a new round of attempts with the same idempotency key (receivers that got it once
    drop it again)."""

    notification_id: str
    round: StrictInt = Field(ge=2)  # the round it opens (the first round is the request itself)
    requested_by: str
    note: str = Field(default="", max_length=500)


@event("NotificationDigested", aggregate="inbox")
class NotificationDigested(BaseModel):
    """Gathered into a digest instead of sent alone: the recipient asked for a daily or weekly digest of
    notifications of this urgency."""

    notification_id: str
    digest: Digest
