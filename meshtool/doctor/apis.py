"""Are the APIs meshtool needs served? PodCertificateRequest and ClusterTrustBundle, from API
discovery of certificates.k8s.io v1, v1beta1 and v1alpha1.

The version the controller would speak is `api.versions.choose`'s pick, and the advice for a
cluster that serves neither is `api.versions.not_served_message` (the feature gates and
`--runtime-config` per release), the very line the controller exits with. Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from meshtool.api import versions
from meshtool.doctor import findings
from meshtool.doctor.findings import Finding

CHECK = "api"
KINDS = {
    versions.PODCERTIFICATEREQUESTS: "PodCertificateRequest",
    versions.CLUSTERTRUSTBUNDLES: "ClusterTrustBundle",
}


def check(served: Mapping[str, Collection[str]]) -> list[Finding]:
    """One finding per resource; `served` maps each version to the plurals it serves."""
    return [_one(served, plural) for plural in KINDS]


def _one(served: Mapping[str, Collection[str]], plural: str) -> Finding:
    subject = f"{KINDS[plural]} (certificates.k8s.io {plural})"
    chosen = versions.choose(served, plural)
    if chosen is None:
        return findings.fail(CHECK, subject, versions.not_served_message(plural))
    served_in = [v for v in versions.PREFERENCE if plural in served.get(v, ())]
    return findings.ok(CHECK, subject, f"served in {', '.join(served_in)}; meshtool uses {chosen}")
