"""audit: what the platform knew, who changed what and why, and whether anything was altered or left out (审计).

Read-only on the log except its own `seal` aggregate (shared/catalogue/ownership.py). Its read model is an index of
every event of every service (read_model.py); the event lists, histories and diffs read that index, the chain
verification (verification.py) reads the log itself. The same files as the other services (docs/adr/0007); docs/adr/0029
records the service's decisions.
"""
