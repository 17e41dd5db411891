"""What clients ask of notification: whole commands handlers take (the body plus ids from the path)."""

from __future__ import annotations

from shared.command_bodies import PathId, Strict


class MarkRead(Strict):
    notification_id: PathId
