"""Sharing work between replicas: rendezvous hashing over live replicas, known from Leases.

`rendezvous` is the pure hash; `leases` converts Lease objects; `membership` heartbeats our
Lease and answers `owns(key)`.
"""
