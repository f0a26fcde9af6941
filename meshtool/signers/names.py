"""Signer names and ClusterTrustBundle label keys, all derived from one DNS domain.

meshtool's three signers live under one domain (default `row-major.net`):
`<domain>/service-dns`, `<domain>/spiffe` and `<domain>/pod-identity`. Each publishes its CA
in ClusterTrustBundles labelled `<prefix>.<domain>/canarying=live` (and the SPIFFE ones also
`spiffe.<domain>/trust-domain=<td>`), so pods can select bundles with a label selector.

The domain must be a DNS subdomain (RFC 1123: lowercase alphanumerics, `-` and `.`, labels of at
most 63 characters starting and ending alphanumeric) short enough that every derived label
prefix is still one (at most 253 characters); `SignerNames` checks this when constructed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_DOMAIN = "row-major.net"
LIVE = "live"
"""The `canarying` label value of bundles pods should trust today."""

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_MAX_SUBDOMAIN = 253
_LONGEST_PREFIX = "service-dns."


def validate_domain(domain: str) -> None:
    """Raise ValueError unless `domain` can prefix every name and label key we derive."""
    if not domain or len(_LONGEST_PREFIX + domain) > _MAX_SUBDOMAIN:
        raise ValueError(
            f"signer domain {domain!r} must be 1 to {_MAX_SUBDOMAIN - len(_LONGEST_PREFIX)} "
            "characters long"
        )
    bad = [label for label in domain.split(".") if not _LABEL.match(label)]
    if bad:
        raise ValueError(
            f"signer domain {domain!r} is not a DNS subdomain: label {bad[0]!r} must be 1-63 "
            "lowercase letters, digits or '-', starting and ending with a letter or digit"
        )


@dataclass(frozen=True, slots=True)
class SignerNames:
    domain: str = DEFAULT_DOMAIN

    def __post_init__(self) -> None:
        validate_domain(self.domain)

    @property
    def service_dns(self) -> str:
        return f"{self.domain}/service-dns"

    @property
    def spiffe(self) -> str:
        return f"{self.domain}/spiffe"

    @property
    def pod_identity(self) -> str:
        return f"{self.domain}/pod-identity"

    @property
    def service_dns_canarying_label(self) -> str:
        return f"service-dns.{self.domain}/canarying"

    @property
    def spiffe_canarying_label(self) -> str:
        return f"spiffe.{self.domain}/canarying"

    @property
    def spiffe_trust_domain_label(self) -> str:
        return f"spiffe.{self.domain}/trust-domain"

    @property
    def spiffe_bundle_sequence_annotation(self) -> str:
        """On the spiffe signer's bundle: its SPIFFE bundle sequence number."""
        return f"spiffe.{self.domain}/bundle-sequence"

    @property
    def pod_identity_canarying_label(self) -> str:
        return f"podidentity.{self.domain}/canarying"


DEFAULT = SignerNames()
SERVICE_DNS = DEFAULT.service_dns
SPIFFE = DEFAULT.spiffe
POD_IDENTITY = DEFAULT.pod_identity
