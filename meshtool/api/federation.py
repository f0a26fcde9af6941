"""FederatedTrustDomain objects and the federated ClusterTrustBundles made from them (pure).

A FederatedTrustDomain (`meshtool.row-major.net/v1alpha1`, cluster-scoped) declares one
one-way SPIFFE federation relationship with its three explicit parameters: the peer's trust
domain, its bundle endpoint URL and the endpoint profile (`https_web`, or `https_spiffe` with the
endpoint's SPIFFE ID), plus an optional bootstrap bundle that authenticates an `https_spiffe`
endpoint until the first fetch. `read` turns the object into a `Federation`; a spec the CRD
schema should have refused is carried as `problem` (a sentence naming the field), never raised,
so the controller can report it on the object's status.

Each peer trust domain is published as its own ClusterTrustBundle linked to our spiffe signer,
named `<signer with / as :>:federated.<trust domain>`. A trust domain may contain `_` (and
forms such as `a..b`) that a CTB name suffix (a DNS subdomain) may not hold; such a trust
domain is named `federated-sha256.<first 40 hex digits of its SHA-256>` instead. The two forms
cannot collide (`.` versus `-` after `federated`), and the label
`spiffe.<domain>/trust-domain` always carries the trust domain itself. The bundle's sequence and
refresh hint ride along as annotations, so the last good bundle survives a restart in the CTB.

`status_body` is the object's whole status after an attempt: what it had, updated, with one
Ready condition whose `lastTransitionTime` moves only when its status flips.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from meshtool.api import trustbundle, wire

GROUP = "meshtool.row-major.net"
VERSION = "v1alpha1"
KIND = "FederatedTrustDomain"
PLURAL = "federatedtrustdomains"
HTTPS_SPIFFE = "https_spiffe"
HTTPS_WEB = "https_web"
PROFILES = (HTTPS_SPIFFE, HTTPS_WEB)
FEDERATED = "federated"
"""The first label of every federated CTB name suffix: the publisher leaves these alone."""

_TRUST_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
_SPIFFE_ID = re.compile(r"^spiffe://([a-z0-9._-]+)((/[A-Za-z0-9._-]+)+)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


@dataclass(frozen=True, slots=True)
class Federation:
    name: str
    uid: str = ""
    generation: int = 0
    trust_domain: str = ""
    url: str = ""
    profile: str = HTTPS_SPIFFE
    endpoint_id: str = ""
    bootstrap: str = ""
    """The spec's bootstrap SPIFFE bundle JSON, empty when none."""
    problem: str = ""
    """Why the spec cannot be used; empty for a usable spec."""
    status: Mapping[str, Any] = field(default_factory=dict)


def read(obj: Mapping[str, Any]) -> Federation:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    profile = spec.get("bundleEndpointProfile") or {}
    status = obj.get("status")
    found = Federation(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation") or 0),
        trust_domain=_text(spec.get("trustDomain")),
        url=_text(spec.get("bundleEndpointURL")),
        profile=_text(profile.get("type")) if isinstance(profile, Mapping) else "",
        endpoint_id=_text(profile.get("endpointSPIFFEID")) if isinstance(profile, Mapping) else "",
        bootstrap=_text(spec.get("trustDomainBundle")),
        status=dict(status) if isinstance(status, Mapping) else {},
    )
    problem = validate(found)
    return _with_problem(found, problem) if problem else found


def validate(fed: Federation) -> str:
    """The first problem of the spec as a sentence naming the field; "" when it is usable."""
    return (
        trust_domain_problem(fed.trust_domain)
        or _url_problem(fed.url)
        or _profile_problem(fed.profile, fed.endpoint_id)
    )


def trust_domain_problem(trust_domain: str) -> str:
    if not _TRUST_DOMAIN.match(trust_domain):
        return (
            f"spec.trustDomain {trust_domain!r} must be 1-63 lowercase letters, digits, '.', '-'"
            " or '_', starting and ending with a letter or digit"
        )
    return ""


def _url_problem(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"spec.bundleEndpointURL {url!r} is not a URL: {exc}"
    if parts.scheme != "https" or not parts.hostname:
        return f"spec.bundleEndpointURL {url!r} must be an https:// URL with a host"
    if parts.username or parts.password or parts.fragment:
        return f"spec.bundleEndpointURL {url!r} must not carry user info or a fragment"
    return ""


def _profile_problem(profile: str, endpoint_id: str) -> str:
    if profile not in PROFILES:
        return f"spec.bundleEndpointProfile.type {profile!r} must be one of {list(PROFILES)}"
    if profile == HTTPS_WEB:
        if endpoint_id:
            return "spec.bundleEndpointProfile.endpointSPIFFEID is only for https_spiffe"
        return ""
    match = _SPIFFE_ID.match(endpoint_id)
    segments = match.group(2).split("/")[1:] if match else []
    if not match or any(s in (".", "..") for s in segments):
        return (
            "spec.bundleEndpointProfile.endpointSPIFFEID must be a spiffe://<trust domain>/<path>"
            f" ID with https_spiffe, not {endpoint_id!r}"
        )
    return ""


def _with_problem(fed: Federation, problem: str) -> Federation:
    return Federation(
        fed.name, fed.uid, fed.generation, fed.trust_domain, problem=problem, status=fed.status
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def ctb_name(signer_name: str, trust_domain: str) -> str:
    """The name of the federated CTB of `trust_domain`, linked to `signer_name`."""
    if _DNS_SUBDOMAIN.match(trust_domain):
        return trustbundle.bundle_name(signer_name, f"{FEDERATED}.{trust_domain}")
    digest = hashlib.sha256(trust_domain.encode()).hexdigest()[:40]
    return trustbundle.bundle_name(signer_name, f"{FEDERATED}-sha256.{digest}")


def is_federated(bundle_name: str) -> bool:
    """True for the name of a federated CTB (of any signer: the suffix decides)."""
    suffix = bundle_name.rpartition(":")[2]
    return suffix.startswith((f"{FEDERATED}.", f"{FEDERATED}-sha256."))


def labels(domain: str, *, own_trust_domain: str, peer_trust_domain: str) -> dict[str, str]:
    """The labels of a trust domain's CTB (the own primary bundle: peer == own)."""
    return {
        f"spiffe.{domain}/trust-domain": peer_trust_domain,
        f"spiffe.{domain}/canarying": "live",
        **spiffe_delivery_labels(own_trust_domain, peer_trust_domain),
    }


def spiffe_delivery_labels(own_trust_domain: str, peer_trust_domain: str) -> dict[str, str]:
    """The SPIFFE filesystem-delivery draft's labels."""
    return {
        "k8s.spiffe.io/canarying": "live",
        "k8s.spiffe.io/workload-trust-domain": own_trust_domain,
        "k8s.spiffe.io/peer-trust-domain": peer_trust_domain,
    }


def refresh_hint_annotation(domain: str) -> str:
    """Beside `signers.names.SignerNames.spiffe_bundle_sequence_annotation` on a federated CTB:
    the peer bundle's `spiffe_refresh_hint`."""
    return f"spiffe.{domain}/refresh-hint"


@dataclass(frozen=True, slots=True)
class Ready:
    """The Ready condition to report: whether the peer's bundle is current, why, and a sentence."""

    ok: bool
    reason: str
    message: str


def status_body(
    fed: Federation,
    ready: Ready,
    *,
    now: dt.datetime,
    schedule: tuple[dt.datetime, int] | None = None,
    fetched: tuple[dt.datetime, int | None, int | None] | None = None,
    error: tuple[str, dt.datetime] | None = None,
) -> dict[str, Any]:
    """`fed`'s whole status, updated: `schedule` is (next fetch, failures in a row), `fetched`
    (when, sequence, refresh hint) of a success, `error` (message, when) of a failure. None
    values are for the merge patch to remove."""
    status: dict[str, Any] = dict(fed.status) | {"observedGeneration": fed.generation}
    if fetched is not None:
        at, sequence, hint = fetched
        status |= {"lastSuccessfulFetchTime": wire.format_time(at)}
        status |= {"sequence": sequence, "refreshHint": hint}
        status |= {"lastError": None, "lastErrorTime": None}
    if error is not None:
        status |= {"lastError": error[0], "lastErrorTime": wire.format_time(error[1])}
    if schedule is not None:
        status |= {"nextFetchTime": wire.format_time(schedule[0])}
        status |= {"consecutiveFailures": schedule[1]}
    status["conditions"] = [_ready_condition(fed, ready, now)]
    return status


def _ready_condition(fed: Federation, ready: Ready, now: dt.datetime) -> dict[str, Any]:
    value = "True" if ready.ok else "False"
    since = wire.format_time(now)
    for old in fed.status.get("conditions") or []:
        if isinstance(old, dict) and old.get("type") == "Ready" and old.get("status") == value:
            since = str(old.get("lastTransitionTime") or since)
    return {
        "type": "Ready",
        "status": value,
        "reason": ready.reason,
        "message": ready.message[: wire.MAX_MESSAGE],
        "lastTransitionTime": since,
        "observedGeneration": fed.generation,
    }
