"""`meshtool doctor` against the real apiserver: a healthy setup (controller-manifests' RBAC,
pool Secrets made by `meshtool make-ca-pool-secret`, a running controller) reports only ok
lines and exits 0; each broken state it detects exits non-zero with its finding's line."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from meshtool.api import decisions, status
from meshtool.api import pcr as apipcr
from meshtool.clock import FakeClock, SystemClock
from meshtool.kube import resources
from meshtool.pki import capool
from meshtool.sharding import leases
from meshtool.sharding.leases import Identity
from meshtool.testing.controlplane import ControlPlane

from .doctorkit import SIGNERS, DoctorSetup, lines, meshtool, pending_pcr


@pytest.fixture
def setup(kube, control_plane, kubectl, namespace, tmp_path) -> DoctorSetup:
    return DoctorSetup(kube, control_plane, kubectl, namespace, tmp_path)


async def healthy(setup: DoctorSetup):
    await setup.apply_rbac()
    await asyncio.gather(*(setup.make_secret(short) for short in SIGNERS))
    return await setup.start_controller()


async def bundles_published(setup: DoctorSetup, ctb_version: str) -> None:
    resource = resources.cluster_trust_bundles(ctb_version)
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        names = {b["metadata"]["name"] for b in (await setup.kube.list(resource)).items}
        if all(setup.bundle_name(short) in names for short in SIGNERS):
            return
        assert asyncio.get_running_loop().time() < deadline, "bundles not published in 60s"
        await asyncio.sleep(0.25)


async def test_healthy_cluster_is_all_ok(setup, ctb_version):
    controller = await healthy(setup)
    try:
        await bundles_published(setup, ctb_version)
        done = await setup.doctor()
        print(done.stdout)
        assert done.returncode == 0, done.stdout + done.stderr
        body = done.stdout.splitlines()[1:-1]
        assert body and all(line.startswith("ok ") for line in body), done.stdout
        checks = {line.split()[1] for line in body}
        assert checks == {"api", "rbac", "pool", "bundle", "pending", "denials", "lease"}
        assert "has all 49 permissions" in done.stdout
        assert "1 live replica(s): replica-0" in done.stdout
        assert done.stdout.splitlines()[-1].endswith("0 warn, 0 fail")
        report = await setup.report()
        assert report["exitCode"] == 0 and len(report["findings"]) == len(body)
    finally:
        controller.stop()


async def test_missing_rbac_verb(setup):
    await setup.apply_rbac(edit=("verbs: [sign, attest]", "verbs: [sign]"))
    done = await setup.doctor()
    assert done.returncode == 1
    refused = lines(done, "fail", "rbac")
    assert len(refused) == 3, done.stdout
    assert f'may not attest certificates.k8s.io signers "{setup.signer("spiffe")}"' in "\n".join(
        refused
    )
    assert "signers resourceNames of the ClusterRole" in refused[0]


async def test_missing_pool_secret(setup):
    await setup.make_secret("service-dns")
    done = await setup.doctor()
    print(done.stdout)
    assert done.returncode == 1
    assert lines(done, "ok", "pool") == [
        f"ok    pool     Secret {setup.namespace}/service-dns-ca-pool: 1 CA(s) "
        '("1" active); the active CA expires in 365 days'
    ]
    [missing, _] = lines(done, "fail", "pool")
    assert missing == (
        f"fail  pool     Secret {setup.namespace}/spiffe-ca-pool: not found; create it: "
        f"meshtool make-ca-pool-secret --namespace {setup.namespace} --name spiffe-ca-pool "
        "--ca-id 1"
    )


async def test_corrupted_pool_secret(setup):
    await setup.put_secret("spiffe", b'{"CAs": [{"ID": "1", "SigningKeyPKCS8": "bm90IGEga2V5"}]}')
    done = await setup.doctor()
    assert done.returncode == 1
    [corrupt] = [line for line in lines(done, "fail", "pool") if "spiffe-ca-pool" in line]
    assert "does not hold a valid CA pool" in corrupt and 'CA "1"' in corrupt, corrupt
    assert "Traceback" not in done.stdout + done.stderr


async def test_ca_expiring_within_30_days(setup):
    forty_days_ago = SystemClock().now() - dt.timedelta(days=40)
    pool = capool.new_pool(
        ca_id="1", name=setup.signer("spiffe"), clock=FakeClock(forty_days_ago),
        validity=dt.timedelta(days=60),
    )  # fmt: skip
    await setup.put_secret("spiffe", capool.dump(pool))
    done = await setup.doctor("--signers", "spiffe")
    assert done.returncode != 0
    [expiring] = lines(done, "warn", "pool")
    assert expiring.startswith(
        f'warn  pool     Secret {setup.namespace}/spiffe-ca-pool: the active CA "1" expires in '
    )
    assert "days with no successor; see meshtool ca" in expiring


async def test_bundle_missing_or_different_from_the_pool(setup, ctb_version):
    await asyncio.gather(setup.make_secret("spiffe"), setup.make_secret("service-dns"))
    other = capool.new_pool(ca_id="9", name="other", clock=SystemClock()).signing_ca.root
    body = {
        "apiVersion": f"certificates.k8s.io/{ctb_version}",
        "kind": "ClusterTrustBundle",
        "metadata": {"name": setup.bundle_name("spiffe")},
        "spec": {
            "signerName": setup.signer("spiffe"),
            "trustBundle": other.public_bytes(Encoding.PEM).decode(),
        },
    }
    resource = resources.cluster_trust_bundles(ctb_version)
    await setup.kube.create(resource, body)
    try:
        done = await setup.doctor("--signers", "spiffe,service-dns")
    finally:
        await setup.kube.delete(resource, setup.bundle_name("spiffe"))
    assert done.returncode == 1
    failed = lines(done, "fail", "bundle")
    assert failed[0].startswith(
        f"fail  bundle   ClusterTrustBundle {setup.bundle_name('spiffe')}: differs from the pool "
        '(lacks CA(s) "1"; carries 1 certificate(s) not in the pool); the controller publishes'
    ), failed
    assert failed[1].startswith(
        f"fail  bundle   ClusterTrustBundle {setup.bundle_name('service-dns')}: missing; "
    ), failed


async def test_no_live_lease(setup):
    stale = SystemClock().now() - dt.timedelta(hours=1)
    body = leases.lease_body(
        Identity(setup.namespace, "replica-9", "", "meshtool-controller"),
        now=stale,
        duration_seconds=15,
    )
    await setup.kube.create(resources.LEASES, body, namespace=setup.namespace)
    done = await setup.doctor()
    assert done.returncode == 1
    [line] = lines(done, "fail", "lease")
    assert line.startswith(
        f"fail  lease    Leases in {setup.namespace} labelled "
        "sharding.meshtool.row-major.net/application=meshtool-controller: no live Lease "
        "(1 expired: replica-9): no replica is running; "
    ), line


async def test_old_pending_request(setup, pcr_version, pcr_form):
    pcr = await pending_pcr(setup, "spiffe", pcr_version, pcr_form)
    done = await setup.doctor("--pending-warn-after", "0s", "--pending-fail-after", "0s")
    assert done.returncode == 1
    [line] = lines(done, "fail", "pending")
    key = f"{setup.namespace}/{pcr['metadata']['name']}"
    assert line.startswith(
        f"fail  pending  PodCertificateRequests of {setup.signer('spiffe')}: 1 pending, "
        f"the oldest {key} for "
    ), line
    report = await setup.report()  # default thresholds: a fresh request is fine
    [pending] = [
        f for f in report["findings"] if f["check"] == "pending" and "spiffe" in f["object"]
    ]
    assert pending["status"] == "ok" and pending["message"].startswith("1 pending")


async def test_denials_present(setup, pcr_version, pcr_form):
    pcr = await pending_pcr(setup, "spiffe", pcr_version, pcr_form)
    clock = SystemClock()
    denied = decisions.Denied("ForbiddenByPolicy", "pod p may not have that name")
    resource = resources.pod_certificate_requests(pcr_version)
    await setup.kube.replace(
        resource,
        pcr["metadata"]["name"],
        status.status_update(apipcr.parse(pcr), status.status_body(denied, clock=clock)),
        namespace=setup.namespace,
        subresource="status",
    )
    done = await setup.doctor("--signers", "spiffe")
    assert done.returncode != 0
    [line] = lines(done, "warn", "denials")
    key = f"{setup.namespace}/{pcr['metadata']['name']}"
    assert line == (
        f"warn  denials  PodCertificateRequests of {setup.signer('spiffe')}: 1 Denied "
        f"(ForbiddenByPolicy) in the last 1h, latest {key}: pod p may not have that name; "
        f"kubectl describe podcertificaterequest -n {setup.namespace}"
    )


@pytest.fixture
async def without_certificate_apis(tmp_path):
    # As in the controller's test: a 1.35 cluster with its beta gates and API turned off again.
    flags = [
        "--feature-gates=PodCertificateRequest=false,ClusterTrustBundle=false,"
        "ClusterTrustBundleProjection=false",
        "--runtime-config=certificates.k8s.io/v1beta1=false",
    ]
    async with ControlPlane("1.35", tmp_path / "k8s", apiserver_flags=flags) as cp:
        yield cp


async def test_api_not_served(without_certificate_apis):
    done = await asyncio.to_thread(
        meshtool, "doctor", "--kubeconfig", str(without_certificate_apis.kubeconfig)
    )
    assert done.returncode == 1
    pcr_line, ctb_line = lines(done, "fail", "api")
    assert pcr_line.startswith("fail  api      PodCertificateRequest (certificates.k8s.io")
    assert "PodCertificateRequest=true" in pcr_line
    assert "--runtime-config=certificates.k8s.io/v1beta1/podcertificaterequests=true" in pcr_line
    assert "ClusterTrustBundle=true" in ctb_line
    assert not lines(done, "fail", "pending") and "Traceback" not in done.stderr
