"""No private key material reaches a log or an Event, at debug level, through issuance, a CA
rotation step, a denial, a held request (a Warning Event), a corrupted pool Secret (real key,
broken certificate) and its fix, and a restart. Every CA key (the pool files, the Secret at
each stage) and every key of the simulated kubelet is handed to `meshtool.testing.keyscan`,
which then reads both controllers' whole output and every Event in the cluster."""

from __future__ import annotations

import base64
import json

import pytest

from meshtool.kube import resources
from meshtool.testing import fleet, keyscan
from meshtool.testing.kubelet import ProjectionFailed

from . import rotationkit, test_ca_rotation
from .conftest import eventually, make_pod, signer_name

pytestmark = pytest.mark.all_versions
pool_secret = test_ca_rotation.pool_secret  # the fixture: the spiffe pool as a Secret
CORE_EVENTS = resources.Resource("", "v1", "events", True)
FLAGS = (
    *rotationkit.SECRET_FLAG,
    "--ca-rotation-interval", "0.5",
    "--accepted-key-types", "ECDSAP256,ED25519",
)  # fmt: skip


async def issue(kube, namespace, sim, name: str) -> None:
    sources = [
        fleet.pod_certificate_source(signer_name("spiffe"), path="svid.pem"),
        fleet.pod_certificate_source(
            signer_name("pod-identity"), key_type="ED25519", path="id.pem"
        ),
    ]
    await make_pod(kube, namespace, name, node=sim.node_name, sources=sources)
    await sim.wait_ready(namespace, name, timeout=60)


async def deny(kube, namespace, sim) -> None:
    source = fleet.pod_certificate_source(signer_name("spiffe"), key_type="RSA3072")
    await make_pod(kube, namespace, "rsa", node=sim.node_name, sources=[source])
    with pytest.raises(ProjectionFailed):
        await sim.wait_ready(namespace, "rsa", timeout=60)


async def hold(kube, namespace, sim) -> None:
    """A service-dns request for a pod no Service selects waits, with a Warning Event."""
    source = fleet.pod_certificate_source(signer_name("service-dns"))
    await make_pod(kube, namespace, "lonely", node=sim.node_name, sources=[source])

    async def warned() -> bool:
        return (await events_text(kube))[0] >= 1

    await eventually(warned, timeout=30, what="a Warning Event for the held request")


async def secret_json(kube) -> bytes:
    obj = await kube.get(resources.SECRETS, rotationkit.SECRET, namespace=rotationkit.NAMESPACE)
    return base64.b64decode(obj["data"]["pool"])


def broken_certificate(pool_json: bytes) -> bytes:
    """The same keys, but CA 1's certificate is garbage: the load fails next to a real key."""
    doc = json.loads(pool_json)
    doc["CAs"][0]["RootCertificateDER"] = base64.b64encode(b"\x30\x03garbage").decode()
    return json.dumps(doc).encode()


async def put_secret(kube, pool_json: bytes) -> None:
    ns, name = rotationkit.NAMESPACE, rotationkit.SECRET
    obj = await kube.get(resources.SECRETS, name, namespace=ns)
    obj["data"] = {"pool": base64.b64encode(pool_json).decode()}
    await kube.replace(resources.SECRETS, name, obj, namespace=ns)


async def corrupt_and_fix(kube, controller) -> None:
    good = await secret_json(kube)
    await put_secret(kube, broken_certificate(good))

    async def readiness(code: int) -> bool:
        answer, body = controller.get("/readyz")
        return answer == code and (code == 200 or signer_name("spiffe") in body)

    await eventually(lambda: readiness(503), timeout=30, what="/readyz to report the bad pool")
    await put_secret(kube, good)
    await eventually(lambda: readiness(200), timeout=30, what="/readyz to recover")


async def events_text(kube) -> tuple[int, str]:
    items = [*(await kube.list(resources.EVENTS)).items, *(await kube.list(CORE_EVENTS)).items]
    return len(items), "\n".join(json.dumps(item) for item in items)


def kubelet_keys(scanner: keyscan.KeyScanner, sim) -> int:
    files = [p for p in sim.root_dir.rglob("*") if p.is_file() and b"PRIVATE KEY" in p.read_bytes()]
    return sum(scanner.add_pem_keys(str(p.name), p.read_bytes()) for p in files)


async def test_no_key_material_in_logs_or_events(
    kube, namespace, start_controller, start_kubelet, pool_secret, pools
):
    scanner = keyscan.KeyScanner()
    await pool_secret.create(test_ca_rotation.half_used_pool())
    first = await start_controller(*FLAGS, name="first")
    sim = await start_kubelet()
    await issue(kube, namespace, sim, "before")

    async def prepared() -> bool:
        return any(len(state) == 2 for state in pool_secret.history)

    await eventually(prepared, timeout=30, what="CA rotation to prepare a successor key")
    scanner.add_pool("secret", await secret_json(kube))
    await deny(kube, namespace, sim)
    await hold(kube, namespace, sim)
    await corrupt_and_fix(kube, first)
    assert rotationkit.CORRUPT in pool_secret.history
    first.stop()
    second = await start_controller(*FLAGS, name="second")
    await issue(kube, namespace, sim, "after")

    for short in ("service-dns", "pod-identity"):
        scanner.add_pool(short, pools[short].read_bytes())
    scanner.add_pool("secret-final", await secret_json(kube))
    assert kubelet_keys(scanner, sim) >= 4
    count, events = await events_text(kube)
    texts = {"first": first.log(), "second": second.log(), "events": events}
    assert count >= 1 and " DEBUG " in texts["first"]
    assert scanner.scan("control", pools["spiffe"].read_text()), "the scanner finds nothing"
    leaks = [leak for where, text in texts.items() for leak in scanner.scan(where, text)]
    assert leaks == []
    size = sum(len(t) for t in texts.values())
    print(f"key scan: {len(scanner.labels)} keys, {count} events, {size} chars, no leak")
