"""What the doctor examines: the controller's namespace and ServiceAccount, its signers and
their pool Secrets, its replicas' application name, and the thresholds of the request checks.

The defaults are those of controller-manifests/: namespace `mesh-controller`, ServiceAccount
`meshtool-controller`, all three signers under `row-major.net`, each signer's pool in the
Secret `<signer>-ca-pool` of the controller's namespace. A `Target` is a plain value; it
derives the signer names and bundle labels the same way the controller does
(`meshtool.signers.names`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from meshtool.signers import names

SIGNERS = ("service-dns", "spiffe", "pod-identity")
NAMESPACE = "mesh-controller"
SERVICE_ACCOUNT = "meshtool-controller"
APPLICATION = "meshtool-controller"


@dataclass(frozen=True, slots=True)
class Target:
    namespace: str = NAMESPACE
    service_account: str = SERVICE_ACCOUNT
    signer_domain: str = names.DEFAULT_DOMAIN
    signers: tuple[str, ...] = SIGNERS
    """Short names of the enabled signers (service-dns, spiffe, pod-identity)."""
    pool_secrets: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Short signer name -> (namespace, name), where not the default `<signer>-ca-pool`."""
    application: str = APPLICATION
    """The replicas' `--sharding-application-name`: which Leases are theirs."""
    pending_warn: dt.timedelta = dt.timedelta(minutes=2)
    pending_fail: dt.timedelta = dt.timedelta(minutes=10)
    window: dt.timedelta = dt.timedelta(hours=1)
    """How far back denials and Warning Events count as recent."""

    @property
    def names(self) -> names.SignerNames:
        return names.SignerNames(self.signer_domain)

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"

    @property
    def groups(self) -> list[str]:
        return ["system:serviceaccounts", f"system:serviceaccounts:{self.namespace}"]

    @property
    def account(self) -> str:
        return f"ServiceAccount {self.namespace}/{self.service_account}"

    def signer_name(self, short: str) -> str:
        return f"{self.signer_domain}/{short}"

    def pool_secret(self, short: str) -> tuple[str, str]:
        return self.pool_secrets.get(short) or (self.namespace, f"{short}-ca-pool")

    def canarying_label(self, short: str) -> str:
        """The label key pods select this signer's live bundles by (value `live`)."""
        labels = {
            "service-dns": self.names.service_dns_canarying_label,
            "spiffe": self.names.spiffe_canarying_label,
            "pod-identity": self.names.pod_identity_canarying_label,
        }
        return labels[short]
