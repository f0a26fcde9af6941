"""The bundle endpoint's serving certificate, in its two profiles (SPIFFE Federation 5.2).

`https_spiffe`: `SvidSource` holds an X509-SVID of our own trust domain naming the endpoint
(`--bundle-endpoint-spiffe-id`), signed in-process by the spiffe signer's signing CA with the
signer's profile (one URI SAN, critical KeyUsage, serverAuth and clientAuth) and lifetime
policy, for a fresh P-256 key that never leaves memory. `renewal_due` is the whole renewal
rule: no SVID yet, its beginRefreshAt reached, or the pool's signing CA is no longer the one
that signed it (a rotation activated a successor). Like issuance, it waits while the published
bundles do not carry the CA, so the SVID always verifies against what `/` serves.

`https_web`: `WebFiles` loads a certificate chain and key from two files (a mounted TLS Secret)
and reloads them when their inode, size or mtime change; bad material is logged once and the
previous context stays in use.

Both hand out a ready `ssl.SSLContext` through `current()`, swapped by one assignment; key
material is never logged, only names, serials and expiry. Time comes from the injected clock.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from meshtool.app import bundleendpoint
from meshtool.clock import Clock
from meshtool.pki import issue, pem
from meshtool.pki.capool import CA, CAPool
from meshtool.signers.spiffe import SVID_USAGES

log = logging.getLogger("meshtool.app.endpointcreds")

SVID_LIFETIME_SECONDS = 24 * 3600
"""What the endpoint asks for; the signer's lifetime policy and the CA may shorten it."""


@dataclass(frozen=True, slots=True)
class Held:
    """The SVID in use: which CA signed it, and when it should be renewed."""

    ca_id: str
    not_after: dt.datetime
    begin_refresh_at: dt.datetime


def renewal_due(held: Held | None, signing_ca_id: str, now: dt.datetime) -> bool:
    return held is None or held.ca_id != signing_ca_id or now >= held.begin_refresh_at


def load_context(chain_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A server context holding `chain_pem` and `key_pem`, loaded without touching the disk
    (an anonymous memory file: `ssl` loads credentials only by path)."""
    ctx = bundleendpoint.server_context()
    fd = os.memfd_create("meshtool-bundle-endpoint", os.MFD_CLOEXEC)
    try:
        os.write(fd, key_pem + chain_pem)
        ctx.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
    return ctx


class SvidSource:
    def __init__(
        self,
        *,
        spiffe_id: str,
        pool: Callable[[], CAPool | None],
        may_sign: Callable[[CA], bool],
        lifetime: issue.LifetimePolicy,
        clock: Clock,
    ) -> None:
        self._id, self._pool, self._may_sign = spiffe_id, pool, may_sign
        self._lifetime, self._clock = lifetime, clock
        self._held: Held | None = None
        self._context: ssl.SSLContext | None = None
        self.certificate: x509.Certificate | None = None
        self.problem: str | None = "no X509-SVID yet"

    def current(self) -> ssl.SSLContext | None:
        return self._context

    @property
    def not_after(self) -> dt.datetime | None:
        return self._held.not_after if self._held is not None else None

    def refresh(self) -> bool:
        """Issue a new SVID when one is due and possible; True when it was swapped in."""
        pool = self._pool()
        if pool is None:
            return self._wait("the spiffe signer's CA pool is not loaded")
        ca = pool.signing_ca
        if not renewal_due(self._held, ca.id, self._clock.now()):
            return False
        if not self._may_sign(ca):
            return self._wait(f'CA "{ca.id}" is not in the published bundle yet')
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = issue.issue_leaf(
            public_key=key.public_key(),
            profile=issue.LeafProfile(uris=(self._id,), extended_key_usages=SVID_USAGES),
            max_expiration_seconds=SVID_LIFETIME_SECONDS,
            ca=ca,
            clock=self._clock,
            policy=self._lifetime,
        )
        if isinstance(leaf, issue.CannotIssue):
            return self._wait(leaf.message)
        self._install(leaf, key, ca.id)
        return True

    def _install(self, leaf: issue.IssuedLeaf, key: ec.EllipticCurvePrivateKey, ca_id: str) -> None:
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._context = load_context(leaf.chain_pem.encode("ascii"), key_pem)
        self._held = Held(ca_id, leaf.not_after, leaf.begin_refresh_at)
        self.certificate, self.problem = leaf.certificate, None
        log.info(
            'bundle endpoint X509-SVID %s: serial %x by CA "%s", renewal at %s, expires %s',
            self._id,
            leaf.certificate.serial_number,
            ca_id,
            leaf.begin_refresh_at.isoformat(),
            leaf.not_after.isoformat(),
        )

    def _wait(self, why: str) -> bool:
        if why != self.problem:
            log.warning("bundle endpoint X509-SVID not issued: %s", why)
        if self._held is None or self._clock.now() >= self._held.not_after:
            self.problem = why
        return False


class WebFiles:
    def __init__(self, *, cert_file: Path, key_file: Path) -> None:
        self._paths = (cert_file, key_file)
        self._stats: tuple[tuple[int, ...] | None, ...] = ()
        self._context: ssl.SSLContext | None = None
        self.certificate: x509.Certificate | None = None
        self.problem: str | None = f"no certificate loaded from {cert_file} yet"

    def current(self) -> ssl.SSLContext | None:
        return self._context

    @property
    def not_after(self) -> dt.datetime | None:
        return self.certificate.not_valid_after_utc if self.certificate is not None else None

    def refresh(self) -> bool:
        """Reload when either file changed; True when a new context was swapped in."""
        stats = tuple(_stat(p) for p in self._paths)
        if stats == self._stats:
            return False
        self._stats = stats  # a bad pair is retried only once the files change again
        try:
            chain, key = (p.read_bytes() for p in self._paths)
            leaf = pem.certificates(chain)[0]
            context = load_context(chain, key)
        except (OSError, ValueError, IndexError) as exc:  # ssl.SSLError is an OSError
            why = f"unusable certificate or key in {self._paths[0]}, {self._paths[1]}: {exc}"
            log.warning("bundle endpoint: %s", why)
            if self._context is None:
                self.problem = why
            return False
        self._context, self.certificate, self.problem = context, leaf, None
        log.info(
            "bundle endpoint certificate from %s: serial %x, expires %s",
            self._paths[0],
            leaf.serial_number,
            leaf.not_valid_after_utc.isoformat(),
        )
        return True


def _stat(path: Path) -> tuple[int, ...] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
