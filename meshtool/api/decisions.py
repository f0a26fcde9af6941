"""What a signer decides about one request, as values.

A signer answers every request with exactly one of these. `Issued`, `Denied` and `Failed` end
the request (they become the PCR's terminal condition). `NotYet` means "not now, ask me again":
it is never written to the API; the controller requeues the request after `retry_after` (the
signer's word, or the controller's default), may post an Event with its message, and wakes it
earlier when one of the objects named in `wake_on` changes (`service(ns, name)`: that
Service; `selector(anchor)`: a Service whose selector anchor (`meshtool.api.selectors`) is
that label pair, before or after the change; `pod(ns, name)`: that pod). Any signer may ask
for that; the narrower the wake-up, the fewer requests one change re-decides. Raising an exception
from a signer means the same as `NotYet` without a message (transient trouble, retry with
backoff); decisions that are policy are always values.

Reasons are CamelCase identifiers, as metav1.Condition requires.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509

# Reasons that appear in Denied / Failed / NotYet decisions.
UNSUPPORTED_KEY_TYPE = "UnsupportedKeyType"
INVALID_USER_ANNOTATIONS = "InvalidUnverifiedUserAnnotations"
INVALID_REQUEST = "InvalidRequest"
IDENTITY_MISMATCH = "IdentityMismatch"
NO_MATCHING_SERVICE = "NoMatchingService"
SERVICE_NOT_FOUND = "ServiceNotFound"
SERVICE_DOES_NOT_SELECT_POD = "ServiceDoesNotSelectPod"
NAME_FORM_NOT_ALLOWED = "NameFormNotAllowed"
POD_NOT_FOUND = "PodNotFound"
CA_UNAVAILABLE = "CANotUsable"
ISSUED_REASON = "Issued"


@dataclass(frozen=True, slots=True)
class Issued:
    chain_pem: str
    """Leaf first, then intermediates; PEM CERTIFICATE blocks without headers."""
    not_before: dt.datetime
    not_after: dt.datetime
    begin_refresh_at: dt.datetime
    message: str = "Certificate issued"
    leaf: x509.Certificate | None = field(default=None, compare=False, repr=False)
    """The chain's first certificate as the signer built it (so the pre-write check need not
    parse it again), or None for a decision made from PEM alone."""


@dataclass(frozen=True, slots=True)
class Denied:
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class WakeOn:
    """A change that is worth re-deciding a held request for: `kind` names the objects
    (one `SERVICE`, the Services of one `SELECTOR` anchor, or one `POD`), `key` which
    (`ns/name` or an anchor key)."""

    kind: str
    key: str


SERVICE = "service"
SELECTOR = "selector"
POD = "pod"


def service(namespace: str, name: str) -> WakeOn:
    return WakeOn(SERVICE, f"{namespace}/{name}")


def selector(anchor: str) -> WakeOn:
    """Any Service anchored at `anchor` (`meshtool.api.selectors.anchor_key`)."""
    return WakeOn(SELECTOR, anchor)


def pod(namespace: str, name: str) -> WakeOn:
    return WakeOn(POD, f"{namespace}/{name}")


@dataclass(frozen=True, slots=True)
class NotYet:
    reason: str
    message: str
    retry_after: float | None = None
    """Seconds until a retry is worth it, if known; None means the controller's default."""
    wake_on: tuple[WakeOn, ...] = ()
    """Changes that should wake the request before `retry_after`."""


Decision = Issued | Denied | Failed | NotYet
