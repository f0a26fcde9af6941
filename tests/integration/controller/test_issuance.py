"""Each signer issues end to end: kubelet simulator -> PCR -> controller -> files in the pod's
volume, verified against the ClusterTrustBundles the same simulator projects."""

from __future__ import annotations

import pytest
from cryptography import x509

from meshtool.kube import resources
from meshtool.pki import podidentity
from meshtool.testing import fleet

from .conftest import ctb_source, eventually, make_pod, signer_name
from .verify import credential, verify

pytestmark = pytest.mark.all_versions


def sans(cert: x509.Certificate, kind: type) -> list[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return [str(v) for v in ext.value.get_values_for_type(kind)]


async def test_every_signer_issues_and_chains_verify_against_projected_bundles(
    kube, namespace, start_controller, start_kubelet
):
    await start_controller()
    sim = await start_kubelet()
    await kube.create(
        resources.SERVICES,
        fleet.service_body(namespace, "web", selector={"app": "web"}),
        namespace=namespace,
    )
    sources = [
        fleet.pod_certificate_source(signer_name("service-dns"), path="dns.pem"),
        fleet.pod_certificate_source(signer_name("spiffe"), key_type="ED25519", path="svid.pem"),
        fleet.pod_certificate_source(
            signer_name("pod-identity"), key_type="RSA3072", path="id.pem"
        ),
        ctb_source("service-dns", "dns-ca.pem", {"service-dns.row-major.net/canarying": "live"}),
        ctb_source(
            "spiffe", "spiffe-ca.pem", {"spiffe.row-major.net/trust-domain": "cluster.local"}
        ),
        ctb_source("pod-identity", "id-ca.pem", {}),
    ]
    pod = await make_pod(
        kube, namespace, "web-0", node=sim.node_name, sources=sources, labels={"app": "web"}
    )
    volume = sim.volume_dir(namespace, "web-0", "creds")
    await sim.wait_ready(namespace, "web-0", timeout=90)

    dns = credential(volume / "dns.pem")
    verify(dns.chain, (volume / "dns-ca.pem").read_bytes(), dns=f"web.{namespace}.svc")
    assert sans(dns.chain[0], x509.DNSName) == [f"web.{namespace}.svc"]
    assert dns.chain[0].subject == x509.Name([])

    svid = credential(volume / "svid.pem")
    verify(svid.chain, (volume / "spiffe-ca.pem").read_bytes())
    assert sans(svid.chain[0], x509.UniformResourceIdentifier) == [
        f"spiffe://cluster.local/ns/{namespace}/sa/app"
    ]

    ident = credential(volume / "id.pem")
    verify(ident.chain, (volume / "id-ca.pem").read_bytes())
    decoded = podidentity.from_certificate(ident.chain[0])
    assert decoded is not None
    assert (decoded.namespace, decoded.pod_name, decoded.pod_uid) == (
        namespace,
        "web-0",
        pod["metadata"]["uid"],
    )
    assert decoded.node_name == sim.node_name and decoded.service_account_name == "app"


async def test_service_dns_sans_are_exactly_the_selecting_services(
    kube, namespace, start_controller, start_kubelet
):
    await start_controller(signers=("service-dns",))
    sim = await start_kubelet()
    other = f"{namespace}-other"
    await fleet.create_namespace(kube, other, [])
    services = [
        (namespace, fleet.service_body(namespace, "web", selector={"app": "web"})),
        (
            namespace,
            fleet.service_body(namespace, "api", selector={"tier": "api"}, type_="NodePort"),
        ),
        (namespace, fleet.service_body(namespace, "all", selector={"app": "web", "tier": "api"})),
        (namespace, fleet.service_body(namespace, "db", selector={"app": "db"})),
        (namespace, fleet.service_body(namespace, "ext", selector=None, type_="ExternalName")),
        (namespace, fleet.service_body(namespace, "manual", selector=None)),
        (other, fleet.service_body(other, "web", selector={"app": "web"})),
    ]
    for ns, body in services:
        await kube.create(resources.SERVICES, body, namespace=ns)
    sources = [fleet.pod_certificate_source(signer_name("service-dns"), path="tls.pem")]
    await make_pod(
        kube,
        namespace,
        "p",
        node=sim.node_name,
        sources=sources,
        labels={"app": "web", "tier": "api"},
    )
    await sim.wait_ready(namespace, "p", timeout=90)
    cred = credential(sim.volume_dir(namespace, "p", "creds") / "tls.pem")
    assert sans(cred.chain[0], x509.DNSName) == [
        f"{name}.{namespace}.svc" for name in ("all", "api", "web")
    ]


async def test_pod_without_a_service_is_issued_once_a_service_selects_it(
    kube, namespace, start_controller, start_kubelet
):
    controller = await start_controller(signers=("service-dns",))
    sim = await start_kubelet()
    sources = [fleet.pod_certificate_source(signer_name("service-dns"), path="tls.pem")]
    await make_pod(
        kube, namespace, "lonely", node=sim.node_name, sources=sources, labels={"app": "lonely"}
    )

    async def held() -> bool:
        return controller.metric_sum("meshtool_held_total", reason="NoMatchingService") > 0

    await eventually(held, timeout=60, what="the request to be held for a Service")
    [state] = sim.state(namespace, "lonely")
    assert state.condition is None  # still pending: no SAN-less certificate, no denial
    await kube.create(
        resources.SERVICES,
        fleet.service_body(namespace, "lonely", selector={"app": "lonely"}),
        namespace=namespace,
    )
    await sim.wait_ready(namespace, "lonely", timeout=30)
    cred = credential(sim.volume_dir(namespace, "lonely", "creds") / "tls.pem")
    assert sans(cred.chain[0], x509.DNSName) == [f"lonely.{namespace}.svc"]
