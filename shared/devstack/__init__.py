"""The platform's local runner, not its library: `make run` (`python -m shared.devstack`), the embedded NATS
and PostgreSQL servers the runner and the test suite start, and the NATS configuration with per-service users.

Services never import this package; it knows them only as processes (`python -m services.<name>`).
"""
