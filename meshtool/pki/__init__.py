"""Certificates without I/O: CA pools, leaf issuance, PEM, chain checks, PodIdentity.

Pure functions over `cryptography` objects with an injected clock; callers do all reading and
writing. `issue.issue_leaf` enforces the apiserver's status rules by construction.
"""
