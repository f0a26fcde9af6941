"""The controller's settings: one frozen value built by the CLI and validated before start.

Every default is the one a production controller wants; tests and the benchmark override
fields explicitly. `validate()` returns the first problem as one sentence naming the flag, so
the CLI can exit at once with one clear line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from meshtool.sharding.leases import Identity

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True, slots=True)
class SignerSettings:
    enabled: bool = False
    pool_file: Path | None = None


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    kubeconfig: str | None = None
    in_cluster: bool = False
    sharding: Identity | None = None
    signer_domain: str = "row-major.net"
    service_dns: SignerSettings = field(default_factory=SignerSettings)
    spiffe: SignerSettings = field(default_factory=SignerSettings)
    pod_identity: SignerSettings = field(default_factory=SignerSettings)
    spiffe_trust_domain: str = "cluster.local"
    accepted_key_types: tuple[str, ...] = ()
    """Empty means all six key types Kubernetes allows."""
    workers: int = 16
    """Concurrent reconciles; status writes are API round trips, so this is I/O concurrency."""
    kube_api_qps: float = 300.0
    """Sustained requests per second to kube-apiserver: enough for a large rollout's burst."""
    kube_api_burst: int = 600
    health_address: str | None = ":8080"
    log_format: str = "text"
    pool_poll_interval: float = 2.0
    """How often pool files are checked; mounted Secrets change in place, without events."""
    trust_bundle_resync: float = 60.0
    identity_mismatch_grace: float = 30.0
    """How long a pod/SA/node UID disagreement may be cache lag before it becomes a denial."""
    lease_duration_seconds: int = 15
    lease_heartbeat: float = 10.0

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
            (self.log_format not in {"text", "json"}, "--log-format must be json or text"),
        )
        for failed, message in checks:
            if failed:
                return message
        return self._pool_problem()

    def _pool_problem(self) -> str | None:
        for name, signer in self.enabled_signers().items():
            if signer.pool_file is None:
                return f"--{name}-ca-pool is required with --enable-{name}-signer"
        return None
