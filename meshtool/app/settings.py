"""The controller's settings: one frozen value built by the CLI and validated before start.

Every default is the one a production controller wants, and it is written once, here. A field
that is also a command-line flag is declared with `flag(default, help)`; `meshtool.cli.flags`
turns it into the click option: the flag is the field name with dashes (`--kube-api-qps`), the
environment variable is `MESHTOOL_<FLAG>`, and the default and help shown are the field's.
Fields declared without `flag` (poll intervals, Lease timings) are not flags; tests and the
benchmark set them explicitly.

Three groups are nested: each signer's `SignerSettings` becomes `--enable-<signer>-signer` and
`--<signer>-ca-pool` (templates in its metadata), `BundleEndpointSettings` becomes
`--bundle-endpoint-*` and `--bundle-refresh-hint`, and `ShardingSettings` (`--sharding-*`)
becomes the optional `Identity` of this replica.

`validate()` returns the first problem as one sentence naming the flag, so the CLI can exit at
once with one clear line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from meshtool.api import issuer
from meshtool.api.types import KeyType
from meshtool.app import health
from meshtool.app.endpointsettings import BundleEndpointSettings
from meshtool.app.flagfields import flag
from meshtool.sharding.leases import Identity
from meshtool.signers import spiffeid
from meshtool.signers.dnsforms import DEFAULT_CLUSTER_DOMAIN, NameForms
from meshtool.signers.spiffe import DEFAULT_TRUST_DOMAIN

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning")
METRICS_AUTH = ("none", "kubernetes")
KEY_TYPES = tuple(k.value for k in KeyType)


@dataclass(frozen=True, slots=True)
class SignerSettings:
    enabled: bool = flag(False, "Run the {} signer.", name="enable-{}-signer")
    pool_file: Path | None = flag(  # noqa: RUF009 - flag() is a dataclasses.field()
        None,
        "CA pool file of the {} signer (required with --enable-{}-signer).",
        name="{}-ca-pool",
        unset="none",
    )
    pool_secret: str | None = flag(
        None,
        "NAMESPACE/NAME of the {} signer's CA pool Secret, read and updated by CA rotation.",
        name="{}-ca-pool-secret",
        unset="none, no automatic rotation",
    )

    def secret(self) -> tuple[str, str] | None:
        if not self.pool_secret:
            return None
        namespace, _, name = self.pool_secret.partition("/")
        return (namespace, name)


@dataclass(frozen=True, slots=True)
class ShardingSettings:
    """This replica's pod, from the downward API; left unset, one replica does all the work."""

    pod_namespace: str | None = flag(
        None, "Namespace of this replica's pod (enables sharding).", unset="unset, one replica"
    )
    pod_name: str | None = flag(None, "Name of this replica's pod.", unset="unset")
    pod_uid: str | None = flag(None, "UID of this replica's pod (owns its Lease).", unset="unset")
    application_name: str = flag(
        "meshtool-controller", "Replicas with the same application name share the work."
    )

    def validate(self) -> str | None:
        if bool(self.pod_namespace) != bool(self.pod_name):
            return "--sharding-pod-namespace and --sharding-pod-name go together"
        return None

    def identity(self) -> Identity | None:
        if not (self.pod_namespace and self.pod_name):
            return None
        return Identity(
            namespace=self.pod_namespace,
            pod_name=self.pod_name,
            pod_uid=self.pod_uid or "",
            application=self.application_name,
        )


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    """Everything `meshtool controller` runs with; the fields declared with `flag` are flags."""

    kubeconfig: str | None = flag(None, "Kubeconfig file.", unset="$KUBECONFIG, ~/.kube/config")
    in_cluster: bool = flag(False, "Use the pod's service account.")
    sharding: Identity | None = None
    """Built from `ShardingSettings`; None means this replica owns every request."""
    signer_domain: str = flag("row-major.net", "Domain of the signer names and bundle labels.")
    service_dns: SignerSettings = field(default_factory=SignerSettings)
    spiffe: SignerSettings = field(default_factory=SignerSettings)
    pod_identity: SignerSettings = field(default_factory=SignerSettings)
    spiffe_trust_domain: str = flag(DEFAULT_TRUST_DOMAIN, "Trust domain of issued SPIFFE IDs.")
    cluster_issuer: str = flag(
        issuer.DISCOVER,
        "The cluster's service-account issuer, named in every certificate as an AIA caIssuers "
        "URL of the signer's anchors under it: discover (kube-apiserver's "
        "/.well-known/openid-configuration), an https URL, or none.",
    )
    cluster_domain: str = flag(
        DEFAULT_CLUSTER_DOMAIN, "The cluster's DNS domain, for the <name>.svc.<domain> form."
    )
    service_dns_cluster_domain_names: bool = flag(
        False, "service-dns also certifies <name>.svc.<cluster domain> (a pod may opt out)."
    )
    service_dns_clusterset_domains: tuple[str, ...] = flag(
        (),
        "Comma-separated cross-cluster suffixes (clusterset.local): service-dns also certifies "
        "<name>.svc.<suffix> (a pod may opt out).",
        unset="none",
    )
    accepted_key_types: tuple[str, ...] = flag(
        (), f"Comma-separated key types to accept: {', '.join(KEY_TYPES)}.", unset="all"
    )
    workers: int = flag(
        16, "Concurrent reconciles; status writes are API round trips, so this is I/O concurrency."
    )
    kube_api_qps: float = flag(
        300.0, "Sustained requests per second to kube-apiserver: enough for a large rollout."
    )
    kube_api_burst: int = flag(600, "Requests to kube-apiserver allowed at once above the qps.")
    identity_mismatch_grace: float = flag(
        30.0, "Seconds a pod/service account/node UID mismatch may be cache lag before denial."
    )
    refresh_fraction: float = flag(
        0.5,
        "Where in a leaf's lifetime beginRefreshAt falls, as a fraction in (0, 1); the kubelet "
        "refreshes then. Always at least 10 minutes after notBefore and before notAfter.",
    )
    health_address: str | None = flag(
        ":8080", "ADDR:PORT of /healthz, /readyz and /metrics; '' disables it."
    )
    metrics_auth: str = flag(
        "none",
        "Who may read /metrics: anyone, or (kubernetes) a bearer token the apiserver "
        "authenticates (TokenReview) and authorizes for get /metrics (SubjectAccessReview).",
        choices=METRICS_AUTH,
    )
    bundle_endpoint: BundleEndpointSettings = field(default_factory=BundleEndpointSettings)
    log_format: str = flag("text", "Log line format.", choices=LOG_FORMATS)
    log_level: str = flag("info", "Least severe level logged.", choices=LOG_LEVELS)
    disable_ca_rotation: bool = flag(
        False, "Turn automatic CA rotation off (it runs for signers with a pool Secret)."
    )
    ca_rotate_at: float = flag(
        0.5, "Fraction of the active CA's lifetime after which a successor is prepared."
    )
    ca_propagation_delay: float = flag(
        600.0,
        "Seconds a successor is published before it may sign: the kubelet's 5-minute "
        "trust bundle cache plus jitter.",
    )
    ca_removal_delay: float = flag(
        86700.0,
        "Seconds after retirement a CA is removed: the longest leaf it can have signed "
        "(24 h) plus the backdate.",
    )
    ca_rotation_interval: float = flag(
        30.0, "Seconds between CA rotation checks (one GET of each pool Secret by its owner)."
    )
    federation: bool = flag(
        False,
        "Fetch the peer bundle of every FederatedTrustDomain and publish it as a "
        "ClusterTrustBundle of the spiffe signer (needs the spiffe signer and the CRD).",
    )
    federation_ca_file: Path | None = flag(  # noqa: RUF009 - flag() is a dataclasses.field()
        None,
        "PEM CA certificates trusted for https_web bundle endpoints, beside the system's.",
        unset="the system's only",
    )
    federation_min_refresh: float = flag(
        30.0,
        "Seconds: the shortest wait between fetches of one peer (whatever its refresh hint), "
        "and the first retry after a failure (doubling up to the hint).",
    )
    federation_max_refresh: float = flag(
        86400.0, "Seconds: the longest wait between fetches of one peer."
    )
    federation_fetch_timeout: float = flag(
        10.0, "Seconds one peer bundle fetch (connect, TLS, redirects, body) may take."
    )
    pool_poll_interval: float = 2.0
    """How often pool files are checked; mounted Secrets change in place, without events."""
    trust_bundle_resync: float = 60.0
    """Seconds between untriggered trust bundle passes: a safety net behind the triggered ones."""
    lease_duration_seconds: int = 15
    """How long a replica's Lease holds without renewal: client-go's leader-election default."""
    lease_heartbeat: float = 10.0
    """How often the Lease is renewed: well inside its duration, so one slow renewal is no loss."""

    def enabled_signers(self) -> dict[str, SignerSettings]:
        named = {
            "service-dns": self.service_dns,
            "spiffe": self.spiffe,
            "pod-identity": self.pod_identity,
        }
        return {name: s for name, s in named.items() if s.enabled}

    def validate(self) -> str | None:
        checks = (
            (not self.enabled_signers(), "enable at least one signer (--enable-*-signer)"),
            (self.in_cluster and bool(self.kubeconfig), "--in-cluster and --kubeconfig conflict"),
            (not _DNS_SUBDOMAIN.match(self.signer_domain), "--signer-domain must be a DNS name"),
            (self.workers < 1, "--workers must be at least 1"),
            (self.kube_api_qps <= 0 or self.kube_api_burst < 1, "--kube-api-qps/burst must be > 0"),
            (not 0 < self.refresh_fraction < 1, "--refresh-fraction must be between 0 and 1"),
            (self.log_format not in LOG_FORMATS, "--log-format must be json or text"),
            (self.log_level not in LOG_LEVELS, "--log-level must be debug, info or warning"),
            (self.metrics_auth not in METRICS_AUTH, "--metrics-auth must be none or kubernetes"),
            (not 0 < self.ca_rotate_at < 1, "--ca-rotate-at must be between 0 and 1"),
            (self.ca_propagation_delay < 0, "--ca-propagation-delay must not be negative"),
            (self.ca_removal_delay < 0, "--ca-removal-delay must not be negative"),
            (self.ca_rotation_interval <= 0, "--ca-rotation-interval must be positive"),
            (self.identity_mismatch_grace < 0, "--identity-mismatch-grace must not be negative"),
            (
                self.federation and not self.spiffe.enabled,
                "--federation needs the spiffe signer (--enable-spiffe-signer)",
            ),
            (self.federation_min_refresh <= 0, "--federation-min-refresh must be positive"),
            (
                self.federation_max_refresh < self.federation_min_refresh,
                "--federation-max-refresh must be at least --federation-min-refresh",
            ),
            (self.federation_fetch_timeout <= 0, "--federation-fetch-timeout must be positive"),
        )
        for failed, message in checks:
            if failed:
                return message
        return (
            self._key_type_problem()
            or self._domain_problem()
            or self._pool_problem()
            or self._trust_domain_problem()
            or self._health_problem()
            or issuer.setting_problem(self.cluster_issuer)
            or self.bundle_endpoint.problem(self.spiffe_trust_domain, self.spiffe.enabled)
        )

    def name_forms(self) -> NameForms:
        """The service-dns name forms these settings allow."""
        return NameForms(
            cluster_domain=self.cluster_domain,
            cluster_domain_form=self.service_dns_cluster_domain_names,
            clusterset_domains=self.service_dns_clusterset_domains,
        )

    def _domain_problem(self) -> str | None:
        named = [("--cluster-domain", self.cluster_domain)]
        named += [
            ("--service-dns-clusterset-domains", d) for d in self.service_dns_clusterset_domains
        ]
        for flag_name, domain in named:
            if not _DNS_SUBDOMAIN.match(domain) or domain in ("svc", "cluster-domain"):
                return f"{flag_name}: {domain!r} must be a DNS domain (not svc, cluster-domain)"
        return None

    def _trust_domain_problem(self) -> str | None:
        try:
            spiffeid.validate_trust_domain(self.spiffe_trust_domain)
        except spiffeid.InvalidSpiffeId as exc:
            return f"--spiffe-trust-domain: {exc}"
        return None

    def _health_problem(self) -> str | None:
        if not self.health_address:
            return None
        try:
            _, port = health.split_address(self.health_address)
        except ValueError as exc:
            return str(exc)
        if port == 0:  # a random port nobody can probe or scrape
            return f"--health-address {self.health_address!r}: port 0 is not in 1-65535"
        return None

    def _key_type_problem(self) -> str | None:
        bad = [k for k in self.accepted_key_types if k not in KEY_TYPES]
        if bad:
            return f"--accepted-key-types: unknown {bad[0]!r}; use {sorted(KEY_TYPES)}"
        return None

    def _pool_problem(self) -> str | None:
        for name, signer in self.enabled_signers().items():
            if signer.pool_file is None:
                return f"--{name}-ca-pool is required with --enable-{name}-signer"
            secret = signer.secret()
            if secret is not None and not all(secret):
                return f"--{name}-ca-pool-secret must be NAMESPACE/NAME"
        return None
