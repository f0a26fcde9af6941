"""Level-triggered controllers over informer caches.

`podcert` reconciles one PodCertificateRequest key at a time (guards, signer decision, status
write through `status`); `trustbundle` makes our ClusterTrustBundles equal to the CA pools;
`cache` is the read-only cluster view the signers consult; `events` and `metrics` report.
"""
