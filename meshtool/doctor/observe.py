"""The doctor's reading layer: everything the checks judge, read once through `meshtool.kube`.

`observe` asks API discovery, one SubjectAccessReview per needed permission (concurrently), and
lists or gets the pool Secrets, the ClusterTrustBundles, the replicas' Leases, the requests of
each signer and the Events; it never writes anything but the reviews, which the apiserver does
not store. A read that fails is kept as one sentence next to the observation it spoiled, so
the report names what could not be checked instead of stopping. Only an apiserver that cannot
be reached, or refuses our credentials, raises (`Unreachable`): then nothing can be checked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from meshtool.api import reviews, trustbundle, versions
from meshtool.doctor.permissions import Permission, needed, review_body
from meshtool.doctor.pools import SecretRead
from meshtool.doctor.target import Target
from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient
from meshtool.sharding.leases import APPLICATION_LABEL, ReplicaLease, lease_view

JSON = dict[str, Any]


class Unreachable(Exception):
    """The apiserver cannot be asked anything: one line naming it and why."""


@dataclass(slots=True)
class Observed:
    server: str
    served: dict[str, set[str]] = field(default_factory=dict)
    allowed: dict[Permission, bool] = field(default_factory=dict)
    secrets: dict[str, SecretRead] = field(default_factory=dict)
    bundles: list[trustbundle.TrustBundle] | None = None
    leases: list[ReplicaLease] | None = None
    pcrs: dict[str, list[JSON]] | None = None
    events: list[JSON] | None = None
    errors: dict[str, str] = field(default_factory=dict)
    """What could not be read (rbac, bundle, lease, pending, events) -> why."""


def describe(exc: errors.KubeError) -> str:
    """One sentence for a failed read, without the HTTP library's repr."""
    if isinstance(exc, errors.ApiError):
        return f"{exc.message} (HTTP {exc.code})"
    # A TransportError already names the server and the cause (meshtool.kube.unreachable).
    return str(exc) or str(exc.__cause__) or type(exc.__cause__ or exc).__name__


async def observe(client: KubeClient, target: Target) -> Observed:
    seen = Observed(server=client.server)
    seen.served = await _discover(client)
    await asyncio.gather(
        _reviews(client, target, seen),
        _secrets(client, target, seen),
        _bundles(client, seen),
        _leases(client, target, seen),
        _requests(client, target, seen),
        _events(client, seen),
    )
    return seen


async def _discover(client: KubeClient) -> dict[str, set[str]]:
    served: dict[str, set[str]] = {}
    for version in versions.PREFERENCE:
        try:
            found = await client.served_resources(f"certificates.k8s.io/{version}")
        except (errors.TransportError, errors.Unauthorized) as exc:
            said = describe(exc)
            raise Unreachable(
                said if client.server in said else f"{client.server}: {said}"
            ) from exc
        served[version] = found or set()
    return served


async def _guard(seen: Observed, check: str, what: str, read: Any) -> None:
    try:
        await read
    except errors.KubeError as exc:
        seen.errors[check] = f"cannot {what}: {describe(exc)}"


async def _reviews(client: KubeClient, target: Target, seen: Observed) -> None:
    async def one(permission: Permission) -> None:
        body = review_body(target, permission)
        answer = await client.create(resources.SUBJECT_ACCESS_REVIEWS, body)
        seen.allowed[permission] = reviews.allowed(answer.get("status") or {})

    jobs = asyncio.gather(*(one(p) for p in needed(target)))
    await _guard(seen, "rbac", "create SubjectAccessReviews", jobs)


async def _secrets(client: KubeClient, target: Target, seen: Observed) -> None:
    async def one(short: str) -> None:
        namespace, name = target.pool_secret(short)
        try:
            obj = await client.get(resources.SECRETS, name, namespace=namespace)
        except errors.NotFound:
            seen.secrets[short] = SecretRead(namespace, name, None)
        except errors.KubeError as exc:
            seen.secrets[short] = SecretRead(namespace, name, None, describe(exc))
        else:
            seen.secrets[short] = SecretRead(namespace, name, obj.get("data") or {})

    await asyncio.gather(*(one(short) for short in target.signers))


async def _bundles(client: KubeClient, seen: Observed) -> None:
    version = versions.choose(seen.served, versions.CLUSTERTRUSTBUNDLES)
    if version is None:
        return

    async def read() -> None:
        listed = await client.list(resources.cluster_trust_bundles(version))
        seen.bundles = [b for b in map(_bundle, listed.items) if b is not None]

    await _guard(seen, "bundle", "list ClusterTrustBundles", read())


def _bundle(obj: JSON) -> trustbundle.TrustBundle | None:
    try:
        return trustbundle.parse(obj)
    except ValueError:  # a malformed bundle is not one of ours
        return None


async def _leases(client: KubeClient, target: Target, seen: Observed) -> None:
    async def read() -> None:
        selector = f"{APPLICATION_LABEL}={target.application}"
        listed = await client.list(
            resources.LEASES, namespace=target.namespace, label_selector=selector
        )
        seen.leases = [lease_view(obj) for obj in listed.items]

    await _guard(seen, "lease", f"list Leases in namespace {target.namespace}", read())


async def _requests(client: KubeClient, target: Target, seen: Observed) -> None:
    version = versions.choose(seen.served, versions.PODCERTIFICATEREQUESTS)
    if version is None:
        return
    resource = resources.pod_certificate_requests(version)

    async def read() -> None:
        found: dict[str, list[JSON]] = {}
        for short in target.signers:
            selector = f"spec.signerName={target.signer_name(short)}"
            found[short] = (await client.list(resource, field_selector=selector)).items
        seen.pcrs = found

    await _guard(seen, "pending", "list PodCertificateRequests", read())


async def _events(client: KubeClient, seen: Observed) -> None:
    async def read() -> None:
        seen.events = (await client.list(resources.EVENTS, field_selector="type=Warning")).items

    await _guard(seen, "events", "list Events", read())
