"""The kubelet simulator against a real apiserver: what NodeRestriction, the Node authorizer and
the PCR status rules accept from it, and the files it writes.

A tiny in-test signer (admin, or an RBAC-only user) issues or denies the simulator's requests,
so these tests need no meshtool controller.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from meshtool.api.types import KeyType
from meshtool.clock import SystemClock
from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient
from meshtool.kube.resources import Resource
from meshtool.pki import pem
from meshtool.testing import nodeapi, pcrforms
from meshtool.testing.controlplane import ControlPlane
from meshtool.testing.kubelet import KubeletSimulator, ProjectionFailed
from meshtool.testing.pcrforms import KeyForm

SIGNER = "example.com/mesh"
CLUSTER_ROLES = Resource("rbac.authorization.k8s.io", "v1", "clusterroles", False)
CLUSTER_ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", False)
JSON = dict[str, Any]

# ---------------------------------------------------------------------------------------------
# fixtures and builders


@pytest.fixture(scope="module")
def ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def node_name() -> str:
    return f"node-{secrets.token_hex(3)}"


def node_client(control_plane: ControlPlane, name: str) -> KubeClient:
    return control_plane.client(control_plane.user(f"system:node:{name}", ["system:nodes"]))


@pytest_asyncio.fixture
async def simulator(
    control_plane: ControlPlane, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[KubeletSimulator]:
    options = getattr(request, "param", {})
    if options.get("pcr_version") == "v1beta1" and control_plane.version == "1.34":
        pytest.skip("1.34 serves PodCertificateRequests only as v1alpha1")
    name = node_name()
    async with (
        node_client(control_plane, name) as client,
        KubeletSimulator(client, name, tmp_path / "pods", SystemClock(), **options) as sim,
    ):
        yield sim


async def make_sa(kube: KubeClient, namespace: str, name: str = "workload") -> JSON:
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}}
    return await kube.create(resources.SERVICE_ACCOUNTS, body, namespace=namespace)


def pod_certificate_source(**extra: Any) -> JSON:
    return {
        "podCertificate": {
            "signerName": SIGNER,
            "keyType": "ECDSAP256",
            "credentialBundlePath": "credentialbundle.pem",
        }
        | extra
    }


async def make_pod(
    kube: KubeClient, namespace: str, node: str, sources: list[JSON], name: str = "app"
) -> JSON:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeName": node,
            "serviceAccountName": "workload",
            "containers": [{"name": "c", "image": "x"}],
            "volumes": [{"name": "certs", "projected": {"sources": sources}}],
        },
    }
    return await kube.create(resources.PODS, body, namespace=namespace)


def pcr_resource(sim: KubeletSimulator) -> Resource:
    assert sim.pcr_version is not None
    return resources.pod_certificate_requests(sim.pcr_version)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    """Retry `check` until it returns a truthy value (errors count as 'not yet')."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if result := await check():
                return result
        except (errors.KubeError, AssertionError):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# a minimal signer for the tests


def requested_key(pcr: JSON) -> Any:
    spec = pcr["spec"]
    if spec.get("stubPKCS10Request"):
        der = base64.b64decode(spec["stubPKCS10Request"])
        return x509.load_der_x509_csr(der).public_key()
    return serialization.load_der_public_key(base64.b64decode(spec["pkixPublicKey"]))


def issued_status(pcr: JSON, ca: tuple[Any, x509.Certificate]) -> JSON:
    ca_key, ca_cert = ca
    not_before = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=2)
    not_after = not_before + dt.timedelta(hours=2)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(ca_cert.subject)
        .public_key(requested_key(pcr))
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(f"{pcr['spec']['podName']}.test")]), True
        )
        .sign(ca_key, hashes.SHA256())
    )
    return {
        "certificateChain": leaf.public_bytes(serialization.Encoding.PEM).decode(),
        "notBefore": _wire(not_before),
        "notAfter": _wire(not_after),
        "beginRefreshAt": _wire(not_before + dt.timedelta(hours=1)),
        "conditions": [_condition("Issued", "Issued", "issued by the test")],
    }


def _wire(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _condition(kind: str, reason: str, message: str) -> JSON:
    now = _wire(dt.datetime.now(dt.UTC))
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": now,
    }


async def write_status(client: KubeClient, resource: Resource, pcr: JSON, status: JSON) -> JSON:
    body = dict(pcr) | {"status": status}
    meta = pcr["metadata"]
    return await client.replace(
        resource, meta["name"], body, namespace=meta["namespace"], subresource="status"
    )


async def sign_next(
    client: KubeClient, resource: Resource, namespace: str, ca: Any, seen: set[str]
) -> JSON:
    """Issue the next not-yet-seen PCR in the namespace; returns the issued object."""

    async def pending() -> JSON | None:
        listed = await client.list(resource, namespace=namespace)
        fresh = [p for p in listed.items if p["metadata"]["name"] not in seen]
        return fresh[0] if fresh else None

    pcr = await eventually(pending)
    seen.add(pcr["metadata"]["name"])
    return await write_status(client, resource, pcr, issued_status(pcr, ca))


# ---------------------------------------------------------------------------------------------
# tests


def check_bundle(path: Path) -> tuple[bytes, x509.Certificate]:
    content = path.read_bytes()
    assert content.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    key = serialization.load_pem_private_key(content, password=None)
    ders = [block.der for block in pem.blocks(content)]
    leaf = x509.load_der_x509_certificate(ders[1])
    assert leaf.public_key() == key.public_key()
    return content, leaf


@pytest.mark.all_versions
async def test_own_pod_pcr_is_accepted_issued_written_and_refreshed(
    kube: KubeClient, namespace: str, simulator: KubeletSimulator, ca: Any
) -> None:
    sa = await make_sa(kube, namespace)
    pod = await make_pod(kube, namespace, simulator.node_name, [pod_certificate_source()])
    seen: set[str] = set()
    issued = await sign_next(kube, pcr_resource(simulator), namespace, ca, seen)

    spec = issued["spec"]
    assert (spec["podUID"], spec["serviceAccountUID"]) == (
        pod["metadata"]["uid"],
        sa["metadata"]["uid"],
    )
    assert spec["maxExpirationSeconds"] == 86400  # defaulted by the server
    assert issued["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
    pod_dir = await simulator.wait_ready(namespace, "app", timeout=30)
    first, leaf = check_bundle(pod_dir / "certs" / "credentialbundle.pem")
    assert leaf.subject == x509.Name([])

    refreshed = asyncio.create_task(sign_next(kube, pcr_resource(simulator), namespace, ca, seen))
    await simulator.refresh_now(namespace, "app", timeout=30)
    await refreshed
    second, _ = check_bundle(pod_dir / "certs" / "credentialbundle.pem")
    assert second != first
    [status] = simulator.state(namespace, "app")
    assert status.issued_count == 2 and len(status.pcr_names) == 2
    assert [n for _, n in simulator.created_pcrs] == list(status.pcr_names)


@pytest.mark.all_versions
@pytest.mark.parametrize("key_type", ["ED25519", "ECDSAP384", "ECDSAP521", "RSA3072"])
async def test_every_key_type_is_accepted(
    kube: KubeClient, namespace: str, simulator: KubeletSimulator, ca: Any, key_type: str
) -> None:
    await make_sa(kube, namespace)
    source = pod_certificate_source(keyType=key_type, credentialBundlePath=None)
    source["podCertificate"] |= {"keyPath": "tls.key", "certificateChainPath": "tls.crt"}
    del source["podCertificate"]["credentialBundlePath"]
    await make_pod(kube, namespace, simulator.node_name, [source])
    await sign_next(kube, pcr_resource(simulator), namespace, ca, set())
    pod_dir = await simulator.wait_ready(namespace, "app", timeout=60)
    key = serialization.load_pem_private_key((pod_dir / "certs/tls.key").read_bytes(), None)
    chain = x509.load_pem_x509_certificates((pod_dir / "certs/tls.crt").read_bytes())
    assert chain[0].public_key() == key.public_key()


@pytest.mark.all_versions
async def test_another_node_cannot_request_for_our_pod(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, simulator: KubeletSimulator
) -> None:
    sa = await make_sa(kube, namespace)
    pod = await make_pod(kube, namespace, simulator.node_name, [pod_certificate_source()])
    other = node_name()
    async with node_client(control_plane, other) as client:
        node = await client.create(
            resources.NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": other}}
        )
        ours = await kube.get(resources.NODES, simulator.node_name)
        key = pcrforms.generate_key(KeyType.ED25519)
        assert simulator.pcr_version is not None and simulator.key_form is not None

        def body(target_node: JSON) -> JSON:
            target = pcrforms.target_for(pod, sa, target_node)
            return pcrforms.pcr_body(
                simulator.key_form,
                target,
                version=simulator.pcr_version,  # type: ignore[arg-type]
                signer_name=SIGNER,
                key=key,
            )

        for named in (ours, node):  # naming the real node, or claiming the pod is ours
            with pytest.raises(errors.Forbidden) as refused:
                await client.create(pcr_resource(simulator), body(named), namespace=namespace)
            print(f"NodeRestriction ({named['metadata']['name']}): {refused.value}")


@pytest.mark.all_versions
async def test_status_write_needs_sign_permission(
    control_plane: ControlPlane,
    kube: KubeClient,
    namespace: str,
    simulator: KubeletSimulator,
    ca: Any,
) -> None:
    await make_sa(kube, namespace)
    await make_pod(kube, namespace, simulator.node_name, [pod_certificate_source()])
    resource = pcr_resource(simulator)
    user = f"signer-{secrets.token_hex(3)}"
    await grant(
        kube,
        user,
        [
            {
                "apiGroups": ["certificates.k8s.io"],
                "resources": ["podcertificaterequests", "podcertificaterequests/status"],
                "verbs": ["get", "list", "watch", "update"],
            }
        ],
    )
    async with control_plane.client(control_plane.user(user)) as signer:
        pcr = await eventually(lambda: _first(signer, resource, namespace))
        # The strategy's sign check is a field error: 422 Invalid, not 403.
        with pytest.raises(errors.Invalid, match='not permitted to "sign"') as refused:
            await write_status(signer, resource, pcr, issued_status(pcr, ca))
        print(f"status without sign: {refused.value}")
        await grant(
            kube,
            f"{user}-sign",
            [
                {
                    "apiGroups": ["certificates.k8s.io"],
                    "resources": ["signers"],
                    "resourceNames": [SIGNER],
                    "verbs": ["sign"],
                }
            ],
            subject=user,
        )
        await eventually(lambda: write_status(signer, resource, pcr, issued_status(pcr, ca)))
    await simulator.wait_ready(namespace, "app", timeout=30)


async def _first(client: KubeClient, resource: Resource, namespace: str) -> JSON | None:
    listed = await client.list(resource, namespace=namespace)
    return listed.items[0] if listed.items else None


async def grant(kube: KubeClient, name: str, rules: list[JSON], subject: str = "") -> None:
    meta = {"name": name}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole"}
    await kube.create(CLUSTER_ROLES, role | {"metadata": meta, "rules": rules})
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": subject or name}
        ],
    }
    await kube.create(CLUSTER_ROLE_BINDINGS, binding)


@pytest.mark.all_versions
async def test_denied_request_blocks_the_pod(
    kube: KubeClient, namespace: str, simulator: KubeletSimulator
) -> None:
    await make_sa(kube, namespace)
    await make_pod(kube, namespace, simulator.node_name, [pod_certificate_source()])
    resource = pcr_resource(simulator)
    pcr = await eventually(lambda: _first(kube, resource, namespace))
    denied = {"conditions": [_condition("Denied", "UnsupportedKeyType", "use ED25519")]}
    await write_status(kube, resource, pcr, denied)
    with pytest.raises(ProjectionFailed, match="UnsupportedKeyType: use ED25519"):
        await simulator.wait_ready(namespace, "app", timeout=30)
    [status] = simulator.state(namespace, "app")
    assert status.condition is not None and status.condition.type == "Denied"
    assert simulator.counters.denied == 1
    assert not simulator.volume_dir(namespace, "app", "certs").exists()


def ca_pem(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def ders(pems: str | bytes) -> list[bytes]:
    return [block.der for block in pem.blocks(pems)]


@pytest.mark.all_versions
async def test_trust_bundle_files_follow_selector_semantics(
    kube: KubeClient, namespace: str, simulator: KubeletSimulator
) -> None:
    assert simulator.ctb_version is not None
    ctbs = resources.cluster_trust_bundles(simulator.ctb_version)
    signer = f"example.com/{namespace}"  # unique per test: CTBs are cluster-scoped
    prefix = signer.replace("/", ":")
    ca1, ca2, ca3 = ca_pem("one"), ca_pem("two"), ca_pem("three")

    async def bundle(suffix: str, pem: str, **labels: str) -> None:
        meta = {"name": f"{prefix}:{suffix}", "labels": labels}
        body = {"apiVersion": ctbs.api_version, "kind": "ClusterTrustBundle", "metadata": meta}
        await kube.create(ctbs, body | {"spec": {"signerName": signer, "trustBundle": pem}})

    await bundle("a", ca1, tier="a")
    await bundle("b", ca2 + ca1, tier="b")
    await make_sa(kube, namespace)

    def source(path: str, **selection: Any) -> JSON:
        return {"clusterTrustBundle": {"path": path} | selection}

    await make_pod(
        kube,
        namespace,
        simulator.node_name,
        [
            source("by-name.pem", name=f"{prefix}:a"),
            source("all.pem", signerName=signer, labelSelector={}),
            source("tier-b.pem", signerName=signer, labelSelector={"matchLabels": {"tier": "b"}}),
            source(
                "not-a.pem",
                signerName=signer,
                labelSelector={
                    "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]
                },
            ),
            source("unset.pem", signerName=signer, optional=True),
        ],
    )
    vol = (await simulator.wait_ready(namespace, "app", timeout=30)) / "certs"
    assert ders((vol / "by-name.pem").read_bytes()) == ders(ca1)
    assert ders((vol / "all.pem").read_bytes()) == ders(ca1 + ca2)  # deduplicated
    assert ders((vol / "tier-b.pem").read_bytes()) == ders(ca2 + ca1)
    assert ders((vol / "not-a.pem").read_bytes()) == ders(ca2 + ca1)
    assert (vol / "unset.pem").read_bytes() == b""  # an unset selector matches nothing

    await bundle("c", ca3, tier="c")

    async def rewritten() -> bool:
        return ders((vol / "all.pem").read_bytes()) == ders(ca1 + ca2 + ca3)

    await eventually(rewritten)
    assert ders((vol / "not-a.pem").read_bytes()) == ders(ca2 + ca1 + ca3)


@pytest.mark.parametrize(
    "simulator",
    [
        {"pcr_version": "v1beta1", "key_form": KeyForm.STUB},
        {"pcr_version": "v1beta1", "key_form": KeyForm.PKIX},
    ],
    ids=["v1beta1-stub", "v1beta1-pkix"],
    indirect=True,
)
async def test_skewed_kubelet_forms_on_v1beta1(
    control_plane: ControlPlane,
    kube: KubeClient,
    namespace: str,
    simulator: KubeletSimulator,
    ca: Any,
) -> None:
    await make_sa(kube, namespace)
    await make_pod(kube, namespace, simulator.node_name, [pod_certificate_source()])
    if simulator.key_form is KeyForm.STUB and control_plane.version == "1.35":
        # A 1.36 kubelet against a 1.35 apiserver: the stub field does not exist there.
        async def refused() -> str | None:
            states = simulator.state(namespace, "app")
            return states[0].last_error if states else None

        assert "spec.pkixPublicKey" in await eventually(refused)
        return
    await sign_next(kube, pcr_resource(simulator), namespace, ca, set())
    pod_dir = await simulator.wait_ready(namespace, "app", timeout=30)
    check_bundle(pod_dir / "certs" / "credentialbundle.pem")


async def served_forms(kube: KubeClient, minor: int) -> list[tuple[str, KeyForm]]:
    """The (version, form) pairs this server should accept from some kubelet release."""
    versions = await nodeapi.served_versions(kube, "podcertificaterequests")
    forms = [(v, f) for v in versions for f in KeyForm if _has_form(v, f)]
    return [(v, f) for v, f in forms if f is pcrforms.default_form(v, minor) or minor >= 37]


def _has_form(version: str, form: KeyForm) -> bool:
    try:
        pcrforms.check_form(form, version)
    except ValueError:
        return False
    return True


@pytest.mark.all_versions
@pytest.mark.parametrize("key_type", list(KeyType), ids=lambda k: k.value)
async def test_apiserver_verifies_the_forms_we_build(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, key_type: KeyType
) -> None:
    """Admin-created (no NodeRestriction): only the format and crypto checks apply."""
    uid = f"uid-{secrets.token_hex(8)}"
    target = pcrforms.PodTarget(namespace, "p", uid, "sa", "sa-uid", "n", "n-uid")
    key = pcrforms.generate_key(key_type)
    minor = int(control_plane.version.split(".")[1])
    for version, form in await served_forms(kube, minor):
        resource = resources.pod_certificate_requests(version)
        body = pcrforms.pcr_body(form, target, version=version, signer_name=SIGNER, key=key)
        await kube.create(resource, body, namespace=namespace)
        tampered = _tampered(body, form)
        with pytest.raises(errors.Invalid, match="signature"):
            await kube.create(resource, tampered, namespace=namespace)


def _tampered(body: JSON, form: KeyForm) -> JSON:
    field = "stubPKCS10Request" if form is KeyForm.STUB else "proofOfPossession"
    raw = bytearray(base64.b64decode(body["spec"][field]))
    raw[-5] ^= 1  # inside the signature in both cases
    spec = body["spec"] | {field: base64.b64encode(bytes(raw)).decode()}
    return body | {"spec": spec}
