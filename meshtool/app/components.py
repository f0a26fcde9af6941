"""Building the controller's parts from settings: signers, pool watchers, informers, rotators.

Nothing here runs anything; `meshtool.app.main` starts what these functions build. Keeping
construction apart from running lets tests build the same parts the binary uses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from meshtool.api import anchorpaths, federation, objects, pcr, trustbundle, types
from meshtool.app.poolwatch import PoolWatcher
from meshtool.app.settings import ControllerSettings
from meshtool.clock import Clock
from meshtool.controllers import cache, events, poolstore, published, rotation
from meshtool.controllers.metrics import Metrics
from meshtool.controllers.trustbundle import BundleSpec
from meshtool.kube import resources
from meshtool.kube.client import KubeClient
from meshtool.pki import caissuers, capool, issue
from meshtool.pki import rotation as plan
from meshtool.runtime.informer import Informer
from meshtool.sharding import leases, membership
from meshtool.signers import names, podidentity, policy, servicedns, spiffe
from meshtool.signers.base import Signer


@dataclass(frozen=True, slots=True)
class SignerSetup:
    """One enabled signer: the signer itself, its CTB labels, and its CA pool file watcher."""

    signer: Signer
    labels: dict[str, str]
    watcher: PoolWatcher
    secret: tuple[str, str] | None = None
    """(namespace, name) of the pool Secret, when rotation may read and update it."""
    sequence_annotation: str = ""
    """The bundle's sequence annotation (the spiffe signer's only)."""

    def bundle_spec(self) -> BundleSpec:
        return BundleSpec(
            self.signer.signer_name, self.labels, self.watcher.pool, self.sequence_annotation
        )


def key_policy(settings: ControllerSettings) -> policy.KeyPolicy:
    if not settings.accepted_key_types:
        return policy.KeyPolicy()
    return policy.KeyPolicy(
        accepted=frozenset(types.KeyType(k) for k in settings.accepted_key_types)
    )


def build_signers(
    settings: ControllerSettings,
    *,
    clock: Clock,
    metrics: Metrics,
    on_pool_change: Callable[[], None],
    cluster_issuer: str | None,
) -> list[SignerSetup]:
    """The enabled signers; with a `cluster_issuer` every one names its anchors URL under it
    in every leaf (the caIssuers extension, built here once per signer)."""
    signer_names = names.SignerNames(settings.signer_domain)
    keys = key_policy(settings)
    td = settings.spiffe_trust_domain
    live = names.LIVE
    lifetime = issue.LifetimePolicy(refresh_fraction=settings.refresh_fraction)

    def aia(signer_name: str) -> x509.AuthorityInformationAccess | None:
        if cluster_issuer is None:
            return None
        return caissuers.extension(anchorpaths.url(cluster_issuer, signer_name, caissuers.P7C))

    made: dict[str, tuple[Signer, dict[str, str]]] = {
        "service-dns": (
            servicedns.ServiceDnsSigner(
                signer_name=signer_names.service_dns,
                keys=keys,
                lifetime=lifetime,
                forms=settings.name_forms(),
                issuer_info=aia(signer_names.service_dns),
            ),
            {signer_names.service_dns_canarying_label: live},
        ),
        "spiffe": (
            spiffe.SpiffeSigner(
                signer_name=signer_names.spiffe,
                trust_domain=td,
                keys=keys,
                lifetime=lifetime,
                issuer_info=aia(signer_names.spiffe),
            ),
            {
                signer_names.spiffe_canarying_label: live,
                signer_names.spiffe_trust_domain_label: td,
                **federation.spiffe_delivery_labels(td, td),
            },
        ),
        "pod-identity": (
            podidentity.PodIdentitySigner(
                signer_name=signer_names.pod_identity,
                trust_domain=td,
                keys=keys,
                lifetime=lifetime,
                issuer_info=aia(signer_names.pod_identity),
            ),
            {signer_names.pod_identity_canarying_label: live},
        ),
    }
    setups = []
    for short, signer_settings in settings.enabled_signers().items():
        signer, labels = made[short]
        assert signer_settings.pool_file is not None
        watcher = PoolWatcher(
            signer_name=signer.signer_name,
            path=signer_settings.pool_file,
            clock=clock,
            metrics=metrics,
            on_change=on_pool_change,
        )
        sequence = signer_names.spiffe_bundle_sequence_annotation if short == "spiffe" else ""
        setups.append(SignerSetup(signer, labels, watcher, signer_settings.secret(), sequence))
    return setups


def managed_signer_names(settings: ControllerSettings) -> set[str]:
    """Every signer name of our domain, enabled or not: their bundles are ours to clean up."""
    signer_names = names.SignerNames(settings.signer_domain)
    return {signer_names.service_dns, signer_names.spiffe, signer_names.pod_identity}


@dataclass(slots=True)
class Informers:
    pcrs: list[Informer[types.PcrEntry]]
    pods: Informer[types.PodView]
    services: Informer[types.ServiceView]
    service_accounts: Informer[types.ServiceAccountView]
    nodes: Informer[types.NodeView]
    bundles: Informer[trustbundle.TrustBundle]
    leases: Informer[leases.ReplicaLease] | None

    def all(self) -> list[Informer[Any]]:
        found: list[Informer[Any]] = [*self.pcrs, self.pods, self.services]
        found += [self.service_accounts, self.nodes, self.bundles]
        return found + ([self.leases] if self.leases is not None else [])

    def pcr(self, key: str) -> types.PcrEntry | None:
        for informer in self.pcrs:
            found = informer.get(key)
            if found is not None:
                return found
        return None


def _bundle(obj: dict[str, Any]) -> trustbundle.TrustBundle | None:
    try:
        return trustbundle.parse(obj)
    except ValueError:
        return None


def build_informers(
    client: KubeClient,
    *,
    settings: ControllerSettings,
    signer_names: list[str],
    pcr_version: str,
    ctb_version: str,
) -> Informers:
    pcr_resource = resources.pod_certificate_requests(pcr_version)
    pcrs: list[Informer[types.PcrEntry]] = [
        Informer(client, pcr_resource, transform=pcr.read, field_selector=f"spec.signerName={n}")
        for n in signer_names
    ]
    services = Informer(client, resources.SERVICES, transform=objects.service_view)
    services.add_index(cache.NAMESPACE_INDEX, cache.by_namespace)
    services.add_index(cache.ANCHOR_INDEX, cache.by_anchor)
    lease_informer = None
    if settings.sharding is not None:
        lease_informer = Informer(
            client,
            resources.LEASES,
            transform=leases.lease_view,
            namespace=settings.sharding.namespace,
            label_selector=settings.sharding.selector,
        )
    return Informers(
        pcrs=pcrs,
        pods=Informer(client, resources.PODS, transform=objects.pod_view),
        services=services,
        service_accounts=Informer(
            client, resources.SERVICE_ACCOUNTS, transform=objects.service_account_view
        ),
        nodes=Informer(client, resources.NODES, transform=objects.node_view),
        bundles=Informer(client, resources.cluster_trust_bundles(ctb_version), transform=_bundle),
        leases=lease_informer,
    )


def build_rotator(
    setup: SignerSetup,
    *,
    settings: ControllerSettings,
    client: KubeClient,
    clock: Clock,
    metrics: Metrics,
    members: membership.Membership,
    roots: published.PublishedRoots,
    warn: rotation.Warn,
) -> rotation.Rotator:
    """The rotator of one signer whose pool Secret is configured."""
    assert setup.secret is not None
    name = setup.signer.signer_name
    namespace, secret = setup.secret
    return rotation.Rotator(
        signer_name=name,
        store=poolstore.SecretStore(client, namespace, secret, clock=clock),
        loaded=lambda: setup.watcher.pool,
        observe=lambda pool: observe(name, pool, members, roots),
        owns=members.owns,
        policy=plan.Policy(
            rotate_at=settings.ca_rotate_at,
            propagation_delay=dt.timedelta(seconds=settings.ca_propagation_delay),
            removal_delay=dt.timedelta(seconds=settings.ca_removal_delay),
        ),
        clock=clock,
        metrics=metrics,
        warn=warn,
        enabled=not settings.disable_ca_rotation,
        timing=rotation.Timing(interval=settings.ca_rotation_interval),
    )


def observe(
    signer_name: str,
    pool: capool.CAPool,
    members: membership.Membership,
    roots: published.PublishedRoots,
) -> plan.Observations:
    """What rotation sees: the pool's CAs in the published bundles, and each live replica's
    announced loaded CA ids."""
    announced = members.announced(published.LOADED_ANNOTATION)
    return plan.Observations(
        published=roots.ids(signer_name, pool),
        loaded={r: published.loaded_ids(v, signer_name) for r, v in announced.items()},
    )


def own_pod_warner(settings: ControllerSettings, recorder: events.EventRecorder) -> rotation.Warn:
    """Warning Events on this replica's own Pod; without a sharding identity there is no Pod
    of ours to post on, and the log line and the metric remain."""

    async def warn(reason: str, message: str) -> None:
        me = settings.sharding
        if me is None:
            return
        regarding = {"apiVersion": "v1", "kind": "Pod", "namespace": me.namespace}
        regarding |= {"name": me.pod_name} | ({"uid": me.pod_uid} if me.pod_uid else {})
        await recorder.post(
            regarding, type_="Warning", reason=reason, action="RotateCA", note=message
        )

    return warn
