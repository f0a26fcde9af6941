"""Each signer's CA pool Secret and its ClusterTrustBundle, judged by the controller's rules.

`pool_check` reads the Secret as observed: present, holding the data key `pool`, a CA pool
`capool.load` accepts, and free of the warnings `pki.expiry` gives (expired: fail; expiring
without a successor, rotation stuck: warn); it hands the pool on for the bundle check.
`bundle_check` compares the signer's bundle with what `controllers.trustbundle.desired_bundles`
says it should be for that pool (the publisher's own function), names the CA ids it lacks,
and warns when the bundle lacks the `canarying=live` label pods select it by. Pure.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.serialization import Encoding

from meshtool.api import trustbundle
from meshtool.clock import FakeClock
from meshtool.controllers import published
from meshtool.controllers import trustbundle as publisher
from meshtool.doctor import findings
from meshtool.doctor.findings import Finding
from meshtool.doctor.target import Target
from meshtool.pki import capool, expiry
from meshtool.pki.capool import CAPool
from meshtool.signers import names

POOL, BUNDLE = "pool", "bundle"
_SEVERE = {
    expiry.EXPIRED: findings.fail,
    expiry.EXPIRING: findings.warn,
    expiry.STUCK: findings.warn,
}


@dataclass(frozen=True, slots=True)
class SecretRead:
    """A pool Secret as read: its `data` (None: not found), or the error reading it."""

    namespace: str
    name: str
    data: Mapping[str, str] | None
    error: str = ""

    @property
    def subject(self) -> str:
        return f"Secret {self.namespace}/{self.name}"


def pool_check(
    target: Target,
    short: str,
    read: SecretRead,
    bundles: Sequence[trustbundle.TrustBundle],
    now: dt.datetime,
) -> tuple[list[Finding], CAPool | None]:
    problem = _unusable(read, now)
    if isinstance(problem, Finding):
        return [problem], None
    pool = problem
    signer = target.signer_name(short)
    ids = published.PublishedRoots(lambda: bundles).ids(signer, pool)
    found = [
        _SEVERE[reason](POOL, read.subject, message, _rotation_hint(read))
        for reason, message in expiry.warnings(pool, now, published=ids)
        if reason in _SEVERE
    ]
    return found or [findings.ok(POOL, read.subject, _describe(pool, now))], pool


def _unusable(read: SecretRead, now: dt.datetime) -> Finding | CAPool:
    """The pool, or the fail finding saying why there is none."""
    if read.error:
        return findings.fail(POOL, read.subject, f"cannot read it: {read.error}")
    if read.data is None:
        hint = (
            f"create it: meshtool make-ca-pool-secret --namespace {read.namespace} "
            f"--name {read.name} --ca-id 1"
        )
        return findings.fail(POOL, read.subject, "not found", hint)
    encoded = read.data.get(capool.SECRET_KEY)
    if not encoded:
        return findings.fail(POOL, read.subject, f"has no data key {capool.SECRET_KEY!r}")
    try:
        raw = base64.b64decode(encoded, validate=True)
        return capool.load(raw, clock=FakeClock(now), allow_expired=True)
    except (binascii.Error, capool.CAPoolError) as exc:
        hint = "restore it from a backup; do not replace a pool that issued live certificates"
        return findings.fail(POOL, read.subject, f"does not hold a valid CA pool: {exc}", hint)


def _describe(pool: CAPool, now: dt.datetime) -> str:
    active = pool.cas[0]
    days = (active.not_after - now) / dt.timedelta(days=1)
    roles = ", ".join(f'"{ca.id}" {pool.role(ca)}' for ca in pool.cas)
    return f"{len(pool.cas)} CA(s) ({roles}); the active CA expires in {days:.0f} days"


def _rotation_hint(read: SecretRead) -> str:
    return (
        f"see meshtool ca --namespace {read.namespace} --name {read.name} status; "
        "`meshtool ca ... rotate` prepares a successor"
    )


def bundle_check(
    target: Target,
    short: str,
    pool: CAPool | None,
    bundles: Sequence[trustbundle.TrustBundle],
) -> Finding:
    signer = target.signer_name(short)
    want = publisher.desired_bundles([publisher.BundleSpec(signer, {}, pool)])
    name = trustbundle.bundle_name(signer)
    subject = f"ClusterTrustBundle {name}"
    if name not in want or pool is None:
        return findings.warn(BUNDLE, subject, "not compared: the signer's pool Secret is unusable")
    have = next((b for b in bundles if b.name == name), None)
    if have is None:
        return findings.fail(BUNDLE, subject, "missing", _publish_hint(target))
    if have.signer_name != signer:
        return findings.fail(
            BUNDLE, subject, f"is linked to signer {have.signer_name!r}, not {signer!r}"
        )
    if have.pem != want[name].pem:
        return findings.fail(BUNDLE, subject, _difference(pool, have), _publish_hint(target))
    label = target.canarying_label(short)
    if have.labels.get(label) != names.LIVE:
        return findings.warn(
            BUNDLE,
            subject,
            f"lacks the label {label}={names.LIVE}",
            "pods selecting live bundles miss it",
        )
    return findings.ok(
        BUNDLE, subject, f"carries the roots of CA(s) {_ids(pool.cas)}, as the pool says"
    )


def _difference(pool: CAPool, have: trustbundle.TrustBundle) -> str:
    carried = set(trustbundle.certificates_der(have.pem))
    roots = {ca.root.public_bytes(Encoding.DER) for ca in pool.cas}
    lacking = [ca for ca in pool.cas if ca.root.public_bytes(Encoding.DER) not in carried]
    extra = len(carried - roots)
    parts = [f"lacks CA(s) {_ids(lacking)}"] if lacking else []
    parts += [f"carries {extra} certificate(s) not in the pool"] if extra else []
    return f"differs from the pool ({'; '.join(parts) or 'order or encoding'})"


def _ids(cas: Sequence[capool.CA]) -> str:
    return ", ".join(f'"{ca.id}"' for ca in cas)


def _publish_hint(target: Target) -> str:
    return (
        "the controller publishes it within a minute: is a replica running "
        f"(kubectl -n {target.namespace} logs deploy/meshtool-controller), and may it attest?"
    )
