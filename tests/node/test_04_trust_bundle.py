"""A CA prepared in a pool Secret reaches the running pods' trust-bundle files, and only then
signs: the first half of a manual rotation (the `rotation` fixture; test_09 finishes it).

The path: Secret -> the controller pods' Secret volumes (kubelet sync) -> the controller's pool
poll -> the signer's ClusterTrustBundle -> the pods' clusterTrustBundle volumes (kubelet CTB
cache and volume sync). `meshtool ca activate` runs only once both spiffe-mtls pods' files carry
the new root; from then on the new CA signs and the old one, retired, stays trusted.
"""

from __future__ import annotations

import pytest
from cryptography import x509

from meshtool.pki import pem
from meshtool.pki.ca import Role

from .conftest import Rotation, spiffe_pool
from .nodekit import Kubectl, report

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

LIVE = "spiffe.row-major.net/canarying=live"


def published_roots(kubectl: Kubectl) -> list[x509.Certificate]:
    items = kubectl.json("get", "clustertrustbundles", "-l", LIVE)["items"]
    spiffe = [i for i in items if i["spec"]["signerName"] == "row-major.net/spiffe"]
    return [c for i in spiffe for c in pem.certificates(i["spec"]["trustBundle"].encode())]


def test_a_prepared_ca_reaches_the_pods_before_it_signs(
    quickstart: Kubectl, rotation: Rotation
) -> None:
    pool = spiffe_pool(quickstart)
    assert pool.signing_ca.root == rotation.new and pool.signing_ca.id == rotation.new_id
    roles = {ca.root: pool.role(ca) for ca in pool.cas}
    assert roles[rotation.new] is Role.ACTIVE and roles[rotation.old] is Role.RETIRED
    roots = published_roots(quickstart)
    assert rotation.new in roots and rotation.old in roots
    report("CA rotation, first half (spiffe-ca-pool)", "\n".join(rotation.steps))
