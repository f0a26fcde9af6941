"""kube-apiserver is the oracle for our status rules: an Issued status built by meshtool's
foundation code is accepted, and deliberately broken ones are rejected, so the rules we
implement (and self-check before every write) are the server's rules."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from meshtool.api import decisions, pcr, request, status
from meshtool.api.types import KeyType
from meshtool.clock import FakeClock, SystemClock
from meshtool.kube import errors, resources
from meshtool.pki import capool, issue
from meshtool.testing import fleet, pcrforms

pytestmark = pytest.mark.all_versions
SIGNER = "oracle.meshtool.invalid/rules"


async def pending_pcr(kube, control_plane, namespace, key, version, form):
    """A PCR for a fresh pod, created as that pod's node (through NodeRestriction)."""
    node = f"rules-{secrets.token_hex(3)}"
    [node_uid] = (await fleet.create_nodes(kube, [node])).values()
    sa = await fleet.ensure(
        kube, resources.SERVICE_ACCOUNTS, fleet.service_account_body(namespace, "app")
    )
    pod = await kube.create(
        resources.PODS,
        fleet.pod_body(
            namespace,
            f"p-{node}",
            node=node,
            service_account="app",
            sources=[fleet.pod_certificate_source(SIGNER)],
        ),
        namespace=namespace,
    )
    target = pcrforms.PodTarget(
        namespace,
        pod["metadata"]["name"],
        pod["metadata"]["uid"],
        "app",
        sa["metadata"]["uid"],
        node,
        node_uid,
    )
    body = pcrforms.pcr_body(form, target, version=version, signer_name=SIGNER, key=key)
    resource = resources.pod_certificate_requests(version)
    async with control_plane.client(
        control_plane.user(f"system:node:{node}", ["system:nodes"])
    ) as as_node:
        return resource, await fleet.create_as_node(as_node, resource, body)


def issued_for(public_key, clock) -> decisions.Issued:
    pool = capool.new_pool(
        ca_id="1", name=SIGNER, clock=FakeClock(clock.now() - dt.timedelta(days=1))
    )
    leaf = issue.issue_leaf(
        public_key=public_key,
        profile=issue.LeafProfile(dns_names=("oracle.example",)),
        max_expiration_seconds=86400,
        ca=pool.signing_ca,
        clock=clock,
    )
    assert isinstance(leaf, issue.IssuedLeaf)
    return decisions.Issued(leaf.chain_pem, leaf.not_before, leaf.not_after, leaf.begin_refresh_at)


async def put_status(kube, resource, obj, body):
    await kube.replace(
        resource,
        obj["metadata"]["name"],
        status.status_update(pcr.parse(obj), body),
        namespace=obj["metadata"]["namespace"],
        subresource="status",
    )


async def test_foundation_status_is_accepted(kube, control_plane, namespace, pcr_version, pcr_form):
    key = pcrforms.generate_key(KeyType.ECDSAP256)
    resource, obj = await pending_pcr(kube, control_plane, namespace, key, pcr_version, pcr_form)
    clock = SystemClock()
    await put_status(
        kube, resource, obj, status.status_body(issued_for(key.public_key(), clock), clock=clock)
    )
    stored = await kube.get(resource, obj["metadata"]["name"], namespace=namespace)
    assert stored["status"]["conditions"][0]["type"] == "Issued"


def _backdated_6_minutes(key):
    # Issue at now-4min with the default 2-minute backdate: notBefore is 6 minutes old.
    clock = FakeClock(SystemClock().now().replace(microsecond=0) - dt.timedelta(minutes=4))
    return status.status_body(issued_for(key.public_key(), clock), clock=clock)


def _fraction_mismatch(key):
    clock = SystemClock()
    body = status.status_body(issued_for(key.public_key(), clock), clock=clock)
    body["notBefore"] = body["notBefore"].replace("Z", ".500000Z")
    return body


def _refresh_too_early(key):
    clock = SystemClock()
    decision = issued_for(key.public_key(), clock)
    early = dataclasses.replace(
        decision, begin_refresh_at=decision.not_before + dt.timedelta(minutes=5)
    )
    return status.status_body(early, clock=clock)


def _chain_for_another_key(key):
    clock = SystemClock()
    other = ec.generate_private_key(ec.SECP256R1())
    return status.status_body(issued_for(other.public_key(), clock), clock=clock)


@pytest.mark.parametrize(
    "broken",
    [_backdated_6_minutes, _fraction_mismatch, _refresh_too_early, _chain_for_another_key],
    ids=["notBefore-6min", "fractional-seconds", "refresh-5min-after-notBefore", "other-key"],
)
async def test_broken_statuses_are_rejected_by_the_apiserver(
    kube, control_plane, namespace, broken, pcr_version, pcr_form
):
    key = pcrforms.generate_key(KeyType.ECDSAP256)
    resource, obj = await pending_pcr(kube, control_plane, namespace, key, pcr_version, pcr_form)
    with pytest.raises(errors.Invalid):
        await put_status(kube, resource, obj, broken(key))


def _condition(kind: str, state: str) -> dict[str, str]:
    now = SystemClock().now().strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "type": kind,
        "status": state,
        "reason": "Odd",
        "message": "an odd condition",
        "lastTransitionTime": now,
    }


ODD_CONDITIONS = {
    "issued-false": [_condition("Issued", "False")],
    "denied-unknown": [_condition("Denied", "Unknown")],
    "failed-false": [_condition("Failed", "False")],
    "other-type": [_condition("Progressing", "True")],
    "duplicate-denied": [_condition("Denied", "True"), _condition("Denied", "True")],
    "denied-and-failed": [_condition("Denied", "True"), _condition("Failed", "True")],
    "denied-and-issued-false": [_condition("Denied", "True"), _condition("Issued", "False")],
}


@pytest.mark.parametrize("case", sorted(ODD_CONDITIONS))
async def test_the_one_terminal_rule_agrees_with_what_the_apiserver_stores(
    kube, control_plane, namespace, case, pcr_version, pcr_form
):
    """Every odd condition list is refused, so a stored request is answered exactly when it
    holds one Issued/Denied/Failed condition with status "True": our `terminal_condition`."""
    key = pcrforms.generate_key(KeyType.ECDSAP256)
    resource, obj = await pending_pcr(kube, control_plane, namespace, key, pcr_version, pcr_form)
    with pytest.raises(errors.Invalid):
        await put_status(kube, resource, obj, {"conditions": ODD_CONDITIONS[case]})
    stored = await kube.get(resource, obj["metadata"]["name"], namespace=namespace)
    assert request.terminal_of(stored) is None
    assert isinstance(pcr.read(stored), type(pcr.parse(stored)))  # still pending to us


@pytest.mark.parametrize("kind", ["Denied", "Failed"])
async def test_a_true_terminal_condition_is_stored_and_read_as_answered(
    kube, control_plane, namespace, kind, pcr_version, pcr_form
):
    key = pcrforms.generate_key(KeyType.ECDSAP256)
    resource, obj = await pending_pcr(kube, control_plane, namespace, key, pcr_version, pcr_form)
    await put_status(kube, resource, obj, {"conditions": [_condition(kind, "True")]})
    stored = await kube.get(resource, obj["metadata"]["name"], namespace=namespace)
    assert request.terminal_of(stored) is not None
    assert request.terminal_of(stored).value == kind
