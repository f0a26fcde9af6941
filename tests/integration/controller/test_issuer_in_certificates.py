"""The issuing cluster in every certificate (docs/decisions/0005), on a real kube-apiserver.

The controller discovers the cluster's service-account issuer from kube-apiserver's
/.well-known/openid-configuration (the harness starts it with --service-account-issuer set to
its own URL; the controller reads it as its service account, through the default
system:service-account-issuer-discovery binding), and every leaf of all three signers names
its signer's anchors URL under that issuer in an AIA caIssuers extension.

Then the acceptance path: a client given only a leaf reads the URL from it, fetches the
anchors there over HTTPS and verifies the chain. The controller's own bundle endpoint stands in
for the issuer host (`https_web` with a serving certificate of a test CA the client is given),
and the controller runs with --cluster-issuer set to that endpoint's URL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509 import verification

from meshtool.anchorclient import discovery, fetch
from meshtool.api import anchorpaths
from meshtool.cli import root
from meshtool.kube import resources
from meshtool.pki import caissuers, pem
from meshtool.testing import fleet, processes
from meshtool.testing import pki as testpki

from .conftest import ctb_source, make_pod, signer_name
from .verify import credential, verify

pytestmark = pytest.mark.all_versions

FILES = {"service-dns": "dns.pem", "spiffe": "svid.pem", "pod-identity": "id.pem"}
ANCHORS = {"service-dns": "dns-ca.pem", "spiffe": "spiffe-ca.pem", "pod-identity": "id-ca.pem"}


async def issue_all(kube, namespace: str, sim) -> Path:
    """A pod with one credential per signer and each signer's projected bundle; its volume."""
    await kube.create(
        resources.SERVICES,
        fleet.service_body(namespace, "web", selector={"app": "web"}),
        namespace=namespace,
    )
    sources = [fleet.pod_certificate_source(signer_name(s), path=f) for s, f in FILES.items()]
    sources += [ctb_source(s, f) for s, f in ANCHORS.items()]
    await make_pod(
        kube, namespace, "web-0", node=sim.node_name, sources=sources, labels={"app": "web"}
    )
    await sim.wait_ready(namespace, "web-0", timeout=90)
    return sim.volume_dir(namespace, "web-0", "creds")


async def test_the_discovered_issuer_is_in_every_signers_certificates(
    kube, namespace, control_plane, start_controller, start_kubelet
):
    controller = await start_controller()  # --cluster-issuer defaults to discover
    volume = await issue_all(kube, namespace, await start_kubelet())
    issuer = control_plane.server
    for short, file in FILES.items():
        leaf = credential(volume / file).chain[0]
        aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
        assert not aia.critical
        assert caissuers.urls(leaf) == (anchorpaths.url(issuer, signer_name(short), "p7c"),)
    svid = credential(volume / FILES["spiffe"]).chain[0]
    san = svid.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert len(san.get_values_for_type(x509.UniformResourceIdentifier)) == 1
    assert f"cluster issuer {issuer} (--cluster-issuer=discover)" in controller.log()
    assert controller.metric_sum("meshtool_cluster_issuer_info", issuer=issuer) == 1


async def test_none_names_no_issuer(kube, namespace, start_controller, start_kubelet):
    await start_controller("--cluster-issuer", "none")
    volume = await issue_all(kube, namespace, await start_kubelet())
    for file in FILES.values():
        assert caissuers.urls(credential(volume / file).chain[0]) == ()


async def test_a_client_given_only_a_leaf_discovers_fetches_and_verifies(
    kube, namespace, start_controller, start_kubelet, tmp_path
):
    host = endpoint_host(tmp_path)
    await start_controller(
        *("--cluster-issuer", host.url, "--bundle-endpoint-listen", host.listen),
        *("--bundle-endpoint-profile", "https_web"),
        *(
            "--bundle-endpoint-cert-file",
            str(host.cert),
            "--bundle-endpoint-key-file",
            str(host.key),
        ),
    )
    volume = await issue_all(kube, namespace, await start_kubelet())

    async def get(url: str) -> bytes:
        return await fetch.get(url, ca_file=host.ca_file)

    now = dt.datetime.now(dt.UTC)
    for short, file in FILES.items():
        leaf = credential(volume / file).chain[0]  # the leaf alone, nothing else
        found = await discovery.discover([leaf], fetch=get, now=now)
        assert found.url == f"{host.url}{anchorpaths.path(signer_name(short))}"
        assert found.path[0] == leaf
        assert found.anchors == pem.certificates((volume / ANCHORS[short]).read_bytes())
        verify((leaf,), pem.encode(list(found.anchors)).encode(), dns=dns_name(short, namespace))

    # The spiffe CA is ECDSA: cryptography's verifier accepts the SVID against the fetched roots
    svid = credential(volume / FILES["spiffe"]).chain[0]
    found = await discovery.discover([svid], fetch=get, now=now)
    store = verification.Store(list(found.anchors))
    client = verification.PolicyBuilder().store(store).time(now).build_client_verifier()
    assert client.verify(svid, []).subjects == [
        x509.UniformResourceIdentifier(f"spiffe://cluster.local/ns/{namespace}/sa/app")
    ]

    leaf_file = tmp_path / "svid-leaf.pem"
    leaf_file.write_text(pem.encode([svid]))
    args = ["inspect", str(leaf_file), "--fetch-anchors", "--issuer-ca-file", str(host.ca_file)]
    result = await asyncio.to_thread(CliRunner().invoke, root, args)
    assert result.exit_code == 0, result.output
    assert "chain verifies against the issuer's anchors: 2 certificate(s)" in result.output


@dataclass(frozen=True)
class EndpointHost:
    listen: str
    url: str
    cert: Path
    key: Path
    ca_file: Path


def endpoint_host(folder: Path) -> EndpointHost:
    """The controller's bundle endpoint as the issuer host: https_web with a test CA."""
    ca = testpki.new_ca("issuer-host-test-ca")
    serving = testpki.serving_cert(ca)
    files = {"tls.crt": serving.cert_pem, "tls.key": serving.key_pem, "ca.crt": ca.cert_pem}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    port = processes.free_port()
    return EndpointHost(
        listen=f"127.0.0.1:{port}",
        url=f"https://127.0.0.1:{port}",
        cert=folder / "tls.crt",
        key=folder / "tls.key",
        ca_file=folder / "ca.crt",
    )


def dns_name(short: str, namespace: str) -> str | None:
    return f"web.{namespace}.svc" if short == "service-dns" else None
