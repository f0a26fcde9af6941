"""service-dns names end to end (issue 12): pod-chosen Services, the cluster-domain and
cross-cluster forms, per-pod names under headless Services, and selector changes that wake
exactly the held request. Every issued chain is verified with cryptography's server verifier
for each DNS name it carries, and refused for a name it does not carry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification

from meshtool.clock import SystemClock
from meshtool.kube import resources
from meshtool.kube.client import KubeClient
from meshtool.pki import capool, pem
from meshtool.testing import fleet
from meshtool.testing.kubelet import KubeletSimulator

from .conftest import SIGNERS, ctb_source, eventually, make_pod, signer_name, write_pool
from .test_denials import denial
from .verify import credential, verify

pytestmark = pytest.mark.all_versions

SERVICES = "service-dns.row-major.net/services"
FORMS = "service-dns.row-major.net/name-forms"
BUNDLE = ctb_source("service-dns", "ca.pem", {"service-dns.row-major.net/canarying": "live"})


@pytest.fixture
def pools(tmp_path: Path) -> dict[str, Path]:
    """An ECDSA service-dns CA, so that cryptography's server verifier checks the names."""
    paths = {short: tmp_path / f"{short}-pool.json" for short in SIGNERS}
    for short in SIGNERS:
        write_pool(paths[short], short)
    pool = capool.new_pool(
        ca_id="1", name=signer_name("service-dns"), key_type="ecdsa-p256", clock=SystemClock()
    )
    paths["service-dns"].write_bytes(capool.dump(pool))
    return paths


def sources(annotations: dict[str, str] | None = None) -> list[dict[str, Any]]:
    source = fleet.pod_certificate_source(
        signer_name("service-dns"), path="tls.pem", user_annotations=annotations
    )
    return [source, BUNDLE]


async def service(kube: KubeClient, namespace: str, name: str, headless: bool = False, **kw: Any):
    body = fleet.service_body(namespace, name, **kw)
    if headless:
        body["spec"]["clusterIP"] = "None"
    return await kube.create(resources.SERVICES, body, namespace=namespace)


async def issued_names(
    sim: KubeletSimulator, namespace: str, pod: str, *, refused: str
) -> list[str]:
    """The leaf's DNS names, after verifying the chain as a server for each and not `refused`."""
    await sim.wait_ready(namespace, pod, timeout=90)
    volume = sim.volume_dir(namespace, pod, "creds")
    cred, anchors = credential(volume / "tls.pem"), (volume / "ca.pem").read_bytes()
    assert isinstance(pem.certificates(anchors)[0].public_key(), ec.EllipticCurvePublicKey)
    ext = cred.chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName)
    names = [str(n) for n in ext.value.get_values_for_type(x509.DNSName)]
    for name in names:
        verify(cred.chain, anchors, dns=name)
    with pytest.raises(verification.VerificationError):
        verify(cred.chain, anchors, dns=refused)
    return names


def skip_without_annotations(control_plane: Any) -> None:
    if control_plane.version == "1.34":
        pytest.skip("userAnnotations arrived in 1.35")


async def test_a_pod_chooses_which_selecting_services_it_is_named_for(
    kube, namespace, start_controller, start_kubelet, control_plane
):
    skip_without_annotations(control_plane)
    await start_controller(signers=("service-dns",))
    sim = await start_kubelet()
    for name in ("web", "admin", "metrics"):
        await service(kube, namespace, name, selector={"app": "web"})
    await make_pod(
        kube,
        namespace,
        "chooser",
        node=sim.node_name,
        sources=sources({SERVICES: "web,admin"}),
        labels={"app": "web"},
    )
    await make_pod(
        kube, namespace, "default", node=sim.node_name, sources=sources(), labels={"app": "web"}
    )
    chosen = await issued_names(sim, namespace, "chooser", refused=f"metrics.{namespace}.svc")
    assert chosen == [f"admin.{namespace}.svc", f"web.{namespace}.svc"]
    every = await issued_names(sim, namespace, "default", refused=f"other.{namespace}.svc")
    assert every == [f"{n}.{namespace}.svc" for n in ("admin", "metrics", "web")]


async def test_a_chosen_service_that_does_not_select_the_pod_is_denied(
    kube, namespace, start_controller, start_kubelet, control_plane
):
    skip_without_annotations(control_plane)
    controller = await start_controller(signers=("service-dns",))
    sim = await start_kubelet()
    await service(kube, namespace, "web", selector={"app": "web"})
    await service(kube, namespace, "db", selector={"app": "db"})
    await make_pod(
        kube,
        namespace,
        "wrong",
        node=sim.node_name,
        sources=sources({SERVICES: "web,db"}),
        labels={"app": "web"},
    )
    reason, message = await denial(sim, namespace, "wrong")
    assert reason == "ServiceDoesNotSelectPod"
    assert f"{namespace}/db" in message and "wrong" in message
    assert controller.metric_sum("meshtool_denied_total", reason="ServiceDoesNotSelectPod") == 1


async def test_a_chosen_service_is_waited_for_until_it_exists(
    kube, namespace, start_controller, start_kubelet, control_plane
):
    skip_without_annotations(control_plane)
    controller = await start_controller(signers=("service-dns",))
    sim = await start_kubelet()
    await service(kube, namespace, "web", selector={"app": "web"})
    await make_pod(
        kube,
        namespace,
        "early",
        node=sim.node_name,
        sources=sources({SERVICES: "late"}),
        labels={"app": "web"},
    )

    async def held() -> bool:
        return controller.metric_sum("meshtool_held_total", reason="ServiceNotFound") > 0

    await eventually(held, timeout=60, what="the request to be held for Service late")
    [state] = sim.state(namespace, "early")
    assert state.condition is None
    await service(kube, namespace, "late", selector={"app": "web"})
    names = await issued_names(sim, namespace, "early", refused=f"web.{namespace}.svc")
    assert names == [f"late.{namespace}.svc"]


async def test_unknown_keys_are_denied_next_to_the_documented_ones(
    kube, namespace, start_controller, start_kubelet, control_plane
):
    skip_without_annotations(control_plane)
    await start_controller(signers=("service-dns",))
    sim = await start_kubelet()
    await service(kube, namespace, "web", selector={"app": "web"})
    notes = {SERVICES: "web", "service-dns.row-major.net/service": "web"}
    await make_pod(
        kube, namespace, "typo", node=sim.node_name, sources=sources(notes), labels={"app": "web"}
    )
    reason, message = await denial(sim, namespace, "typo")
    assert reason == "InvalidUnverifiedUserAnnotations"
    assert "'service-dns.row-major.net/service'" in message and SERVICES in message


async def test_name_forms_follow_the_controller_and_the_pods_choice(
    kube, namespace, start_controller, start_kubelet, control_plane
):
    skip_without_annotations(control_plane)
    await start_controller(
        "--cluster-domain",
        "corp.example",
        "--service-dns-cluster-domain-names",
        "--service-dns-clusterset-domains",
        "clusterset.local",
        signers=("service-dns",),
    )
    sim = await start_kubelet()
    await service(kube, namespace, "web", selector={"app": "web"})
    pods = {
        "all": None,
        "multi": {FORMS: "clusterset.local"},
        "local": {FORMS: "svc,cluster-domain"},
        "greedy": {FORMS: "svc,example.net"},
    }
    for pod, notes in pods.items():
        await make_pod(
            kube, namespace, pod, node=sim.node_name, sources=sources(notes), labels={"app": "web"}
        )
    base = f"web.{namespace}.svc"
    every = await issued_names(sim, namespace, "all", refused=f"{base}.cluster.local")
    assert every == [base, f"{base}.clusterset.local", f"{base}.corp.example"]
    multi = await issued_names(sim, namespace, "multi", refused=base)
    assert multi == [f"{base}.clusterset.local"]
    local = await issued_names(sim, namespace, "local", refused=f"{base}.clusterset.local")
    assert local == [base, f"{base}.corp.example"]
    reason, message = await denial(sim, namespace, "greedy")
    assert reason == "NameFormNotAllowed"
    assert "'example.net'" in message and "svc, cluster-domain, clusterset.local" in message


async def test_default_forms_stay_short_and_other_forms_are_refused(
    kube, namespace, start_controller, start_kubelet, control_plane
):
    skip_without_annotations(control_plane)
    await start_controller(signers=("service-dns",))
    sim = await start_kubelet()
    await service(kube, namespace, "web", selector={"app": "web"})
    await make_pod(
        kube,
        namespace,
        "asks",
        node=sim.node_name,
        sources=sources({FORMS: "cluster-domain"}),
        labels={"app": "web"},
    )
    reason, message = await denial(sim, namespace, "asks")
    assert reason == "NameFormNotAllowed"
    assert "'cluster-domain'" in message and "allows svc" in message


async def statefulset_pod(kube: KubeClient, namespace: str, name: str, node: str) -> None:
    await fleet.ensure(
        kube, resources.SERVICE_ACCOUNTS, fleet.service_account_body(namespace, "app")
    )
    body = fleet.pod_body(
        namespace, name, node=node, service_account="app", sources=sources(), labels={"app": "db"}
    )
    body["spec"] |= {"hostname": name, "subdomain": "db"}
    await kube.create(resources.PODS, body, namespace=namespace)


async def test_a_statefulset_pod_gets_its_per_pod_name(
    kube, namespace, start_controller, start_kubelet
):
    await start_controller("--service-dns-cluster-domain-names", signers=("service-dns",))
    sim = await start_kubelet()
    await service(kube, namespace, "db", headless=True, selector={"app": "db"})
    await service(kube, namespace, "db-read", selector={"app": "db"})
    await statefulset_pod(kube, namespace, "db-0", sim.node_name)
    names = await issued_names(sim, namespace, "db-0", refused=f"db-1.db.{namespace}.svc")
    bases = (f"db-0.db.{namespace}", f"db.{namespace}", f"db-read.{namespace}")
    assert names == sorted(f"{b}.svc{suffix}" for b in bases for suffix in ("", ".cluster.local"))


async def test_a_statefulset_pod_waits_for_its_headless_service(
    kube, namespace, start_controller, start_kubelet
):
    controller = await start_controller(signers=("service-dns",))
    sim = await start_kubelet()
    await service(kube, namespace, "db-read", selector={"app": "db"})
    await statefulset_pod(kube, namespace, "db-0", sim.node_name)

    async def held() -> bool:
        return controller.metric_sum("meshtool_held_total", reason="ServiceNotFound") > 0

    await eventually(held, timeout=60, what="the request to be held for Service db")
    await service(kube, namespace, "db", headless=True, selector={"app": "db"})
    names = await issued_names(sim, namespace, "db-0", refused=f"db-1.db.{namespace}.svc")
    assert names == [f"db-0.db.{namespace}.svc", f"db-read.{namespace}.svc", f"db.{namespace}.svc"]


async def test_a_selector_change_wakes_the_held_request(
    kube, namespace, start_controller, start_kubelet
):
    controller = await start_controller(signers=("service-dns",))
    sim = await start_kubelet()
    await service(kube, namespace, "web", selector={"app": "other"})
    await make_pod(
        kube, namespace, "p", node=sim.node_name, sources=sources(), labels={"app": "web"}
    )

    async def held() -> bool:
        return controller.metric_sum("meshtool_held_total", reason="NoMatchingService") > 0

    await eventually(held, timeout=60, what="the request to be held for a Service")
    patch = {"spec": {"selector": {"app": "web"}}}
    await kube.patch(resources.SERVICES, "web", patch, namespace=namespace)
    # Woken by the Service's new anchor (app=web), well inside the 300 s safety-net recheck.
    names = await issued_names(sim, namespace, "p", refused=f"other.{namespace}.svc")
    assert names == [f"web.{namespace}.svc"]
