"""notification: who hears what (通知). Routing rules turn the other services' events into notifications in the
recipients' inboxes (one `inbox` aggregate per recipient organisation); organisations keep their contact points,
preferences and subscriptions (aggregate `subscription`); the delivery engine and the channels send them on.

The same files as the other services (docs/adr/0007): commands.py, domain.py (+ domain_subscriptions.py,
domain_rules.py), policies.py, handlers.py, api.py, responses.py, read_model.py and queries.py, reactions.py,
bootstrap.py, __main__.py, cli.py and seed.py. docs/adr/0026 records the service's decisions.
"""
