"""The three signers: pure functions from a request and a read-only cluster view to a decision.

`base` defines the seam; `policy` holds the checks every signer shares (key types, annotation
keys); `names` derives signer names and bundle labels from one domain; `spiffeid` parses and
validates SPIFFE IDs.
"""
