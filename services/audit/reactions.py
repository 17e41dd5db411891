"""audit's reactions: none. The audit service causes nothing from other services' events; it only indexes them
(read_model.py). The seal timer (timers.py) is its only writer."""

from __future__ import annotations

from shared.reactions import Reaction

REACTIONS: list[Reaction] = []
