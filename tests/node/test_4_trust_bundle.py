"""A CA added to a pool Secret reaches the running pods' trust-bundle files.

The path: Secret -> the controller pods' Secret volumes (kubelet sync) -> the controller's pool
poll -> the signer's ClusterTrustBundle -> the pods' clusterTrustBundle volumes (kubelet CTB
cache and volume sync). The new CA is appended, so CA 1 still signs.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography import x509

from meshtool.clock import SystemClock
from meshtool.pki import capool, pem

from .conftest import RefreshWatch, live_pod
from .nodekit import Kubectl, report, volume_dir, wait_for

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

SECRET = ("-n", "mesh-controller", "secret", "spiffe-ca-pool")
LIVE = "spiffe.row-major.net/canarying=live"


def add_ca(kubectl: Kubectl) -> x509.Certificate:
    secret = kubectl.json("get", *SECRET)
    clock = SystemClock()
    pool = capool.load(base64.b64decode(secret["data"]["pool"]), clock=clock)
    ids = {ca.id for ca in pool.cas}
    new = capool.generate_ca(ca_id=str(len(ids) + 1), name="spiffe-ca-pool", clock=clock)
    data = base64.b64encode(capool.dump(capool.CAPool((*pool.cas, new)))).decode()
    kubectl("patch", *SECRET, "--type=merge", "-p", json.dumps({"data": {"pool": data}}))
    return new.root


def ctb_has(kubectl: Kubectl, cert: x509.Certificate) -> bool:
    items = kubectl.json("get", "clustertrustbundles", "-l", LIVE)["items"]
    spiffe = [i for i in items if i["spec"]["signerName"] == "row-major.net/spiffe"]
    return any(cert in pem.certificates(i["spec"]["trustBundle"].encode()) for i in spiffe)


def file_has(kubectl: Kubectl, cert: x509.Certificate) -> bool:
    server = live_pod(kubectl, "server")
    if server is None:
        return False
    bundle = volume_dir(server, "spiffe-trust") / "bundle.pem"
    return cert in pem.certificates(bundle.read_bytes())


def test_a_new_ca_reaches_the_running_pods_trust_bundle(
    quickstart: Kubectl, refresh_watch: RefreshWatch
) -> None:
    started = time.monotonic()
    cert = add_ca(quickstart)
    wait_for("the spiffe ClusterTrustBundle carries the new CA", lambda: ctb_has(quickstart, cert))
    in_ctb = time.monotonic() - started
    wait_for("the server's trust-bundle file carries it", lambda: file_has(quickstart, cert), 480)
    report(
        "CA added to spiffe-ca-pool",
        f"new CA {cert.subject.rfc4514_string()}: in the CTB after {in_ctb:.0f}s, "
        f"in the spiffe-mtls server's bundle.pem after {time.monotonic() - started:.0f}s",
    )
