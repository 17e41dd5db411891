"""Tiaodu's shared library: event envelope and catalogue, event store, projections, auth, HTTP plumbing.

It imports no service; every service imports it.
"""
