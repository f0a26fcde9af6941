"""kube-apiserver's rules for an Issued PodCertificateRequest status, as a checker.

`issued_status_problems` returns every rule of the API's Issued-status validation that a status
body breaks (an empty list means the server would accept it); tests use it as the oracle for
what we issue. The controller runs `issued_decision_problems` before every write, so a signer
bug surfaces as a clear log line instead of an opaque 422: the same rules, with the leaf and the
times taken from the decision the body was written from instead of parsed back out of it (the
hot path; the leaf's key, names and validity are still read from the certificate itself).

The rules, as the API server applies them:

- exactly one condition: type Issued, status "True", a CamelCase reason, a lastTransitionTime;
- certificateChain at most 100 KiB; the first PEM block is a CERTIFICATE that parses, and so is
  every other block; we also refuse PEM headers, which we never write;
- the leaf's public key is the requested key; leaf DNS SANs are non-empty, without `..`, and do
  not start or end with `.`; email SANs are addresses;
- notBefore, notAfter and beginRefreshAt are present, whole-second UTC, and the first two equal
  the leaf's validity exactly;
- notBefore is within 5 minutes of `now`; the lifetime is at least 1 h and at most
  spec.maxExpirationSeconds; beginRefreshAt lies in [notBefore + 10 min, notAfter - 10 min].

It never raises on bad input; a garbled status is just a long list of problems.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from cryptography import x509

from meshtool.api import wire
from meshtool.api.decisions import Issued
from meshtool.api.types import PodCertRequest
from meshtool.pki import pem

MAX_CHAIN_BYTES = 100 * 1024
MAX_REASON = 1024
MAX_MESSAGE = wire.MAX_MESSAGE
CLOCK_SKEW = dt.timedelta(minutes=5)
MIN_LIFETIME = dt.timedelta(hours=1)
REFRESH_MARGIN = dt.timedelta(minutes=10)
_REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
_TIME_FIELDS = ("notBefore", "notAfter", "beginRefreshAt")


def issued_status_problems(
    status: Mapping[str, object], *, request: PodCertRequest, now: dt.datetime
) -> list[str]:
    problems = _condition_problems(status.get("conditions"))
    leaf = _chain(status.get("certificateChain"), problems)
    times = _times(status, problems)
    return problems + _rest(leaf, times, request, now)


def issued_decision_problems(
    decision: Issued, status: Mapping[str, object], *, request: PodCertRequest, now: dt.datetime
) -> list[str]:
    """`issued_status_problems` for the status written from `decision`, taking the leaf and the
    times from the decision instead of parsing them back out of the body (the controller runs
    this before every write). The body's chain and times are written from those same values
    (`meshtool.api.status`), so only their size and form is left to check here. A decision
    without its leaf gets the full check."""
    if decision.leaf is None:
        return issued_status_problems(status, request=request, now=now)
    problems = _condition_problems(status.get("conditions"))
    chain = status.get("certificateChain")
    if not isinstance(chain, str) or not chain.startswith("-----BEGIN CERTIFICATE-----\n"):
        problems.append("certificateChain: does not start with a CERTIFICATE block")
    elif len(chain) > MAX_CHAIN_BYTES:  # PEM is ASCII: characters are bytes
        problems.append(f"certificateChain: longer than {MAX_CHAIN_BYTES} bytes")
    return problems + _rest(decision.leaf, _as_written(decision), request, now)


def _rest(
    leaf: x509.Certificate | None,
    times: Mapping[str, dt.datetime] | None,
    request: PodCertRequest,
    now: dt.datetime,
) -> list[str]:
    problems = []
    if leaf is not None:
        problems += _key_problems(leaf, request)
        problems += _san_problems(leaf)
        if times is not None:
            problems += _leaf_time_problems(leaf, times)
    if times is not None:
        problems += _window_problems(times, request.max_expiration_seconds, now)
    return problems


def _condition_problems(conditions: object) -> list[str]:
    if not isinstance(conditions, list) or len(conditions) != 1:
        return [f"conditions: want exactly one condition, got {conditions!r:.80}"]
    cond = conditions[0]
    if not isinstance(cond, Mapping):
        return ["conditions[0]: not an object"]
    problems = []
    if cond.get("type") != "Issued" or cond.get("status") != "True":
        problems.append("conditions[0]: want type Issued with status True")
    reason = cond.get("reason")
    if not isinstance(reason, str) or len(reason) > MAX_REASON or not _REASON.match(reason):
        problems.append(f"conditions[0].reason: {reason!r:.80} is not a CamelCase reason")
    message = cond.get("message", "")
    if not isinstance(message, str) or len(message.encode()) > MAX_MESSAGE:
        problems.append("conditions[0].message: want a string of at most 32 KiB")
    ltt = cond.get("lastTransitionTime")
    if not isinstance(ltt, str) or not wire.is_canonical_time(ltt):
        problems.append(f"conditions[0].lastTransitionTime: {ltt!r:.40} is not a whole-second time")
    return problems


def _chain(chain: object, problems: list[str]) -> x509.Certificate | None:
    """Check the chain's PEM rules, appending problems; returns the parsed leaf, if any."""
    if not isinstance(chain, str) or not chain:
        problems.append("certificateChain: missing")
        return None
    if len(chain.encode()) > MAX_CHAIN_BYTES:
        problems.append(f"certificateChain: longer than {MAX_CHAIN_BYTES} bytes")
    try:
        found = pem.scan(chain)
    except pem.PemError as exc:
        problems.append(f"certificateChain: {exc}")
        return None
    # An unterminated last block is trailing text to the apiserver (Go's encoding/pem).
    complete = [block for block in found if block.complete]
    parsed = [_certificate(i, block, problems) for i, block in enumerate(complete)]
    if not parsed:
        problems.append("certificateChain: no PEM block")
    return parsed[0] if parsed else None


def _certificate(index: int, block: pem.Scanned, problems: list[str]) -> x509.Certificate | None:
    where = f"certificateChain block {index}"
    if block.type != "CERTIFICATE":
        problems.append(f"{where}: type {block.type!r}, want CERTIFICATE")
        return None
    if block.has_headers:
        problems.append(f"{where}: has PEM headers")
    try:
        return x509.load_der_x509_certificate(block.der or b"")
    except ValueError as exc:
        problems.append(f"{where}: does not parse as X.509: {exc}")
        return None


def _key_problems(leaf: x509.Certificate, request: PodCertRequest) -> list[str]:
    if request.public_key is None:
        return ["request has no readable public key to compare the leaf with"]
    try:
        leaf_key = leaf.public_key()
    except ValueError as exc:
        return [f"leaf public key is unreadable: {exc}"]
    # Key equality is OpenSSL's EVP_PKEY_eq: the same answer as comparing the DER SPKIs, at a
    # tenth of the cost (no two encodings per request); keys of different types are unequal.
    if leaf_key != request.public_key:
        return ["leaf public key is not the requested public key"]
    return []


def _san_problems(leaf: x509.Certificate) -> list[str]:
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    except ValueError as exc:
        return [f"leaf extensions do not parse: {exc}"]
    problems = []
    for general in san:  # one pass over the names (the issuance hot path runs this)
        value = general.value
        if isinstance(general, x509.DNSName) and _bad_dns_name(value):
            problems.append(
                f"leaf DNS SAN {value!r} is empty, contains '..' or starts or ends with '.'"
            )
        elif isinstance(general, x509.RFC822Name) and _bad_email(value):
            problems.append(f"leaf email SAN {value!r} is not an address")
    return problems


def _bad_dns_name(name: str) -> bool:
    return not name or ".." in name or name.startswith(".") or name.endswith(".")


def _bad_email(addr: str) -> bool:
    return addr.count("@") != 1 or addr.startswith("@") or addr.endswith("@")


def _times(status: Mapping[str, object], problems: list[str]) -> dict[str, dt.datetime] | None:
    times = {}
    for name in _TIME_FIELDS:
        value = status.get(name)
        if not isinstance(value, str) or not wire.is_canonical_time(value):
            problems.append(f"{name}: {value!r:.40} is not a whole-second UTC time")
        else:
            times[name] = wire.parse_time(value)
    return times if len(times) == len(_TIME_FIELDS) else None


def _as_written(decision: Issued) -> dict[str, dt.datetime]:
    """The decision's times as `status_body` writes them: UTC, the fraction dropped."""
    times = (decision.not_before, decision.not_after, decision.begin_refresh_at)
    return {
        name: t.astimezone(dt.UTC).replace(microsecond=0)
        for name, t in zip(_TIME_FIELDS, times, strict=True)
    }


def _leaf_time_problems(leaf: x509.Certificate, times: Mapping[str, dt.datetime]) -> list[str]:
    problems = []
    if times["notBefore"] != leaf.not_valid_before_utc:
        problems.append(f"notBefore differs from the leaf's ({leaf.not_valid_before_utc})")
    if times["notAfter"] != leaf.not_valid_after_utc:
        problems.append(f"notAfter differs from the leaf's ({leaf.not_valid_after_utc})")
    return problems


def _window_problems(
    times: Mapping[str, dt.datetime], max_expiration_seconds: int, now: dt.datetime
) -> list[str]:
    not_before, not_after = times["notBefore"], times["notAfter"]
    refresh, lifetime = times["beginRefreshAt"], not_after - not_before
    problems = []
    if abs(not_before - now) >= CLOCK_SKEW:
        problems.append(f"notBefore {not_before} is 5 minutes or more away from now ({now})")
    if lifetime < MIN_LIFETIME:
        problems.append(f"lifetime {lifetime} is shorter than 1h")
    if lifetime > dt.timedelta(seconds=max_expiration_seconds):
        problems.append(f"lifetime {lifetime} exceeds maxExpirationSeconds")
    if not not_before + REFRESH_MARGIN <= refresh <= not_after - REFRESH_MARGIN:
        problems.append("beginRefreshAt is not within [notBefore + 10m, notAfter - 10m]")
    return problems
