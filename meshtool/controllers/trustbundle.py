"""The trust-bundle publisher: make our signer-linked ClusterTrustBundles equal to the CA pools.

Whole-state and level-triggered, in the spire-controller-manager style: every pass computes the
desired bundles (one per enabled signer, named `<signer with / as :>:primary-bundle`, holding
the roots of every CA in that signer's pool, with the signer's labels), diffs them by name with
the CTB cache, and creates what is missing, updates what drifted (content or labels) and
deletes bundles of our signers that should not exist (for example a disabled signer's), except
federated bundles (`api.federation.is_federated`: the federation controller's). Every
item is attempted even when an earlier one fails; failures are counted and the pass raises at
the end so the loop retries with backoff.

The spiffe signer's bundle also carries a sequence number in the annotation
`spiffe.<domain>/bundle-sequence` (`BundleSpec.sequence_annotation`; the other signers' bundles
have none): 1 when the bundle is created, one more on every change of its PEM, unchanged when
only labels change. It lives on the object, so every replica's bundle endpoint serves the same
`spiffe_sequence`, and a new owner of the shard key continues where the last one stopped. The
number is computed in the plan (`sequenced`), from the bundle in the cache.

Passes are driven by a coalescing trigger (pool reloaded, CTB changed, membership changed)
plus a periodic resync. Only the replica that owns the shard key `trust-bundles` writes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from meshtool.api import federation, trustbundle
from meshtool.controllers.metrics import Metrics
from meshtool.kube import errors
from meshtool.kube.client import KubeClient
from meshtool.kube.resources import Resource
from meshtool.pki.capool import CAPool

log = logging.getLogger("meshtool.controllers.trustbundle")

SHARD_KEY = "trust-bundles"


@dataclass(frozen=True, slots=True)
class BundleSpec:
    """One enabled signer's publishing intent: its name, labels and (if loaded) CA pool."""

    signer_name: str
    labels: Mapping[str, str]
    pool: CAPool | None
    sequence_annotation: str = ""
    """The annotation counting content changes; empty for bundles without a sequence."""


@dataclass(frozen=True, slots=True)
class Desired:
    name: str
    signer_name: str
    labels: Mapping[str, str]
    pem: str
    sequence_annotation: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """What the object gets; `plan` fills in the sequence."""


@dataclass(slots=True)
class Plan:
    create: list[Desired] = field(default_factory=list)
    update: list[tuple[Desired, trustbundle.TrustBundle]] = field(default_factory=list)
    delete: list[trustbundle.TrustBundle] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)


def desired_bundles(specs: Iterable[BundleSpec]) -> dict[str, Desired]:
    """What should exist. A signer whose pool is not loaded yet publishes nothing (and deletes
    nothing: see `plan`)."""
    out: dict[str, Desired] = {}
    for spec in specs:
        if spec.pool is None:
            continue
        pem = trustbundle.trust_bundle_pem(
            cert.public_bytes(Encoding.DER) for cert in spec.pool.trust_anchors()
        )
        name = trustbundle.bundle_name(spec.signer_name)
        out[name] = Desired(
            name, spec.signer_name, dict(spec.labels), pem, spec.sequence_annotation
        )
    return out


def read_sequence(annotations: Mapping[str, str], key: str) -> int | None:
    """The sequence in `annotations[key]`, None when absent or not a positive integer."""
    value = annotations.get(key, "")
    return int(value) if value.isascii() and value.isdigit() and int(value) > 0 else None


def sequenced(want: Desired, have: trustbundle.TrustBundle | None) -> Desired:
    """`want` with its sequence annotation: 1 for a new bundle, the previous one plus 1 when
    the PEM changes, the previous one otherwise (1 when the bundle had none yet)."""
    key = want.sequence_annotation
    if not key:
        return want
    previous = read_sequence(have.annotations, key) if have is not None else None
    if previous is None:
        number = 1 if have is None or have.pem == want.pem else 2
    else:
        number = previous + (have is not None and have.pem != want.pem)
    return dataclasses.replace(want, annotations={key: str(number)})


def plan(
    desired: Mapping[str, Desired],
    actual: Iterable[trustbundle.TrustBundle],
    *,
    managed_signers: set[str],
    keep_signers: set[str],
) -> Plan:
    """Diff desired against actual. Only bundles of `managed_signers` are touched; bundles of
    `keep_signers` (enabled, but pool not loaded) and federated bundles are never deleted."""
    result = Plan()
    seen: set[str] = set()
    for bundle in actual:
        if bundle.signer_name not in managed_signers or federation.is_federated(bundle.name):
            continue  # not ours, or a peer's bundle the federation controller owns
        want = desired.get(bundle.name)
        if want is not None:
            seen.add(bundle.name)
            want = sequenced(want, bundle)
            if _drifted(want, bundle):
                result.update.append((want, bundle))
        elif bundle.signer_name not in keep_signers:
            result.delete.append(bundle)
    result.create = [sequenced(d, None) for name, d in sorted(desired.items()) if name not in seen]
    return result


def _drifted(want: Desired, have: trustbundle.TrustBundle) -> bool:
    ours = {k: have.annotations.get(k) for k in want.annotations}
    return (
        want.pem != have.pem
        or dict(want.labels) != dict(have.labels)
        or ours != dict(want.annotations)
    )


class Publisher:
    def __init__(
        self,
        *,
        client: KubeClient,
        resource: Resource,
        specs: Callable[[], list[BundleSpec]],
        actual: Callable[[], Iterable[trustbundle.TrustBundle]],
        managed_signers: set[str],
        owns: Callable[[str], bool],
        metrics: Metrics,
    ) -> None:
        self._client, self._resource = client, resource
        self._specs, self._actual = specs, actual
        self._managed, self._owns = managed_signers, owns
        self._metrics = metrics

    def current_plan(self) -> Plan:
        specs = self._specs()
        keep = {s.signer_name for s in specs if s.pool is None}
        return plan(
            desired_bundles(specs), self._actual(), managed_signers=self._managed, keep_signers=keep
        )

    async def sync(self) -> None:
        if not self._owns(SHARD_KEY):
            return
        todo = self.current_plan()
        failures = 0
        for want in todo.create:
            failures += await self._apply("create", want.name, self._create(want))
        for want, have in todo.update:
            failures += await self._apply("update", want.name, self._update(want, have))
        for have in todo.delete:
            failures += await self._apply("delete", have.name, self._delete(have))
        if failures:
            raise RuntimeError(f"{failures} ClusterTrustBundle write(s) failed; retrying")

    async def _apply(self, op: str, name: str, action: Awaitable[None]) -> int:
        try:
            await action
        except errors.KubeError as exc:
            self._metrics.ctb_publish_errors.labels(op=op).inc()
            log.warning("trust bundle %s %s failed: %s", op, name, exc)
            return 1
        self._metrics.ctb_writes.labels(op=op).inc()
        log.info("trust bundle %s: %s", op, name)
        return 0

    async def _create(self, want: Desired) -> None:
        await self._client.create(self._resource, self._body(want, resource_version=None))

    async def _update(self, want: Desired, have: trustbundle.TrustBundle) -> None:
        body = self._body(want, resource_version=have.resource_version)
        await self._client.replace(self._resource, want.name, body)

    async def _delete(self, have: trustbundle.TrustBundle) -> None:
        with contextlib.suppress(errors.NotFound):
            await self._client.delete(self._resource, have.name)

    def _body(self, want: Desired, *, resource_version: str | None) -> dict[str, Any]:
        body: dict[str, Any] = dict(
            trustbundle.ctb_body(
                version=self._resource.version,
                name=want.name,
                signer_name=want.signer_name,
                labels=dict(want.labels),
                pem=want.pem,
                annotations=want.annotations,
            )
        )
        if resource_version is not None:
            body["metadata"]["resourceVersion"] = resource_version
        return body
