"""What an operator and a workload declare for SPIFFE federation, as object bodies (pure).

The operator side: a `FederatedTrustDomain` (group `meshtool.row-major.net`, `v1alpha1`,
cluster-scoped, named after the peer trust domain) with the peer's bundle endpoint URL, the
`https_spiffe` profile and the endpoint's SPIFFE ID, and optionally the bootstrap bundle fetched
once out of band. The workload side: the projected sources of a SPIFFE credential folder (SPIFFE
filesystem delivery): `credential-bundle.pem` from the spiffe signer plus one
`<trust-domain>.spiffe-trust-bundle.pem` per trust domain, each a `clusterTrustBundle` source
selecting by the `k8s.spiffe.io` labels. A peer's source is `optional`, because its bundle comes
and goes with the federation: the kubelet then writes an empty file instead of blocking the
volume (or, when a non-optional source stops matching, keeping the stale trust forever).

Bundles of different trust domains are never merged here: one source, one file, one trust
domain. Nothing in this module talks to a cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from meshtool.api import federation as api
from meshtool.kube.resources import Resource

JSON = dict[str, Any]

FEDERATED_TRUST_DOMAINS = Resource(api.GROUP, api.VERSION, api.PLURAL, False)
K8S_PEER_TD = "k8s.spiffe.io/peer-trust-domain"
CREDENTIAL_BUNDLE = "credential-bundle.pem"
HTTPS_SPIFFE = api.HTTPS_SPIFFE


def bundle_file(trust_domain: str) -> str:
    """The credential folder's file for one trust domain's anchors."""
    return f"{trust_domain}.spiffe-trust-bundle.pem"


def endpoint_spiffe_id(trust_domain: str) -> str:
    """The SPIFFE ID a meshtool bundle endpoint presents by default (https_spiffe)."""
    return f"spiffe://{trust_domain}/meshtool/bundle-endpoint"


def workload_id(trust_domain: str, namespace: str, service_account: str) -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"


def federated_trust_domain(
    *, trust_domain: str, endpoint_url: str, endpoint_id: str, bootstrap: bytes | None = None
) -> JSON:
    """The FederatedTrustDomain an operator applies to trust `trust_domain`'s bundle."""
    spec: JSON = {
        "trustDomain": trust_domain,
        "bundleEndpointURL": endpoint_url,
        "bundleEndpointProfile": {"type": HTTPS_SPIFFE, "endpointSPIFFEID": endpoint_id},
    }
    if bootstrap is not None:
        spec["trustDomainBundle"] = bootstrap.decode()
    return {
        "apiVersion": FEDERATED_TRUST_DOMAINS.api_version,
        "kind": api.KIND,
        "metadata": {"name": trust_domain},
        "spec": spec,
    }


def bundle_labels(*, workload_td: str, peer_td: str) -> dict[str, str]:
    """The labels a pod of `workload_td` selects `peer_td`'s live bundle by."""
    return api.spiffe_delivery_labels(workload_td, peer_td)


def credential_folder_sources(
    *, signer_name: str, workload_td: str, peers: Sequence[str], key_type: str = "ECDSAP256"
) -> list[JSON]:
    """A credential folder's projected sources: the SVID, our bundle, one optional per peer."""
    sources: list[JSON] = [
        {
            "podCertificate": {
                "signerName": signer_name,
                "keyType": key_type,
                "credentialBundlePath": CREDENTIAL_BUNDLE,
            }
        },
        _bundle_source(signer_name, workload_td, workload_td, optional=False),
    ]
    sources += [_bundle_source(signer_name, workload_td, p, optional=True) for p in peers]
    return sources


def _bundle_source(signer_name: str, workload_td: str, peer_td: str, *, optional: bool) -> JSON:
    source: JSON = {
        "signerName": signer_name,
        "labelSelector": {"matchLabels": bundle_labels(workload_td=workload_td, peer_td=peer_td)},
        "path": bundle_file(peer_td),
    }
    if optional:
        source["optional"] = True
    return {"clusterTrustBundle": source}


def peer_bundles(
    ctbs: Iterable[Mapping[str, Any]], *, signer_name: str, peer_td: str
) -> list[Mapping[str, Any]]:
    """The ClusterTrustBundles of `signer_name` that carry `peer_td`'s anchors."""
    return [
        ctb
        for ctb in ctbs
        if (ctb.get("spec") or {}).get("signerName") == signer_name
        and ((ctb.get("metadata") or {}).get("labels") or {}).get(K8S_PEER_TD) == peer_td
    ]
