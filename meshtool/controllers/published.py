"""What the published ClusterTrustBundles carry, as the CTB informer cache sees it.

Two questions rest on it: may this CA sign (its root must already be in a published bundle of
its signer, so no verifier meets a leaf it cannot chain), and which of a pool's CAs are
published (an observation of the rotation state machine). The root DERs of each signer's
bundles are recomputed only when a bundle's resourceVersion changes, since the first question
is asked on every issuance. Federated bundles (a peer trust domain's anchors, linked to our
spiffe signer) are not our signers' roots and are left out.

Also here: the Lease annotation through which each replica announces the CA ids it has loaded
per signer (JSON `{"<signer>": ["1", "2"]}`), and its reading back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping

from meshtool.api import federation, trustbundle
from meshtool.pki.capool import CA, CAPool

LOADED_ANNOTATION = "ca.meshtool.row-major.net/loaded"


class PublishedRoots:
    def __init__(self, bundles: Callable[[], Iterable[trustbundle.TrustBundle]]) -> None:
        self._bundles = bundles
        self._key: tuple[tuple[str, str], ...] = ()
        self._by_signer: dict[str, frozenset[bytes]] = {}

    def roots(self, signer_name: str) -> frozenset[bytes]:
        bundles = [b for b in self._bundles() if not federation.is_federated(b.name)]
        key = tuple(sorted((b.name, b.resource_version) for b in bundles))
        if key != self._key:
            found: dict[str, set[bytes]] = {}
            for bundle in bundles:
                ders = trustbundle.certificates_der(bundle.pem)
                found.setdefault(bundle.signer_name, set()).update(ders)
            self._by_signer = {name: frozenset(ders) for name, ders in found.items()}
            self._key = key
        return self._by_signer.get(signer_name, frozenset())

    def carries(self, signer_name: str, ca: CA) -> bool:
        return ca.root_der in self.roots(signer_name)

    def ids(self, signer_name: str, pool: CAPool) -> frozenset[str]:
        roots = self.roots(signer_name)
        return frozenset(ca.id for ca in pool.cas if ca.root_der in roots)


def loaded_annotation(pools: Mapping[str, CAPool | None]) -> dict[str, str]:
    value = {name: [ca.id for ca in pool.cas] for name, pool in sorted(pools.items()) if pool}
    return {LOADED_ANNOTATION: json.dumps(value, separators=(",", ":"))}


def loaded_ids(value: str | None, signer_name: str) -> frozenset[str]:
    """The CA ids a replica announced for a signer; nothing for a missing or odd value."""
    try:
        ids = json.loads(value or "{}").get(signer_name, [])
    except (ValueError, AttributeError):
        return frozenset()
    return frozenset(i for i in ids if isinstance(i, str)) if isinstance(ids, list) else frozenset()
