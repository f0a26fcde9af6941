"""The Kubernetes API edge: wire dicts in every served version <-> canonical values.

`pcr.parse` turns a PodCertificateRequest of any version into `types.PodCertRequest`;
`status` builds the status bodies written back; `trustbundle` builds and reads
ClusterTrustBundles; `versions` picks which version to speak. Nothing outside this package
sees a wire version or a raw field name.
"""

from meshtool.api.errors import MalformedObject, MalformedRequest

__all__ = ["MalformedObject", "MalformedRequest"]
