"""notification's read model: identities, the shared project directory, the inboxes and their notifications.

Facts the routing needs from other services' events (an issue's lead unit, a supervision order's target, a
meeting's units) are folded beside them (read_model_facts.py); contact points, preferences and subscriptions in
read_model_subscriptions.py; the routing rules in read_model_rules.py.
"""

from __future__ import annotations

from services.notification.read_model_inbox import InboxReadModel
from shared.auth import IdentityReadModel
from shared.project_directory import ProjectDirectory
from shared.runtime import CompositeReadModel


def read_model() -> CompositeReadModel:
    return CompositeReadModel([IdentityReadModel(), ProjectDirectory(), InboxReadModel()])
