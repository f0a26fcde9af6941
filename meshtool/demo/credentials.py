"""TLS material that follows the files the kubelet keeps up to date.

The kubelet writes a `podCertificate` projection as one PEM file (a PKCS#8 `PRIVATE KEY`, then
the chain, leaf first) and a `clusterTrustBundle` projection as a file of CA certificates. It
replaces them atomically: it writes a fresh timestamped directory and swaps the `..data`
symlink, so `creds/bundle.pem -> ..data/bundle.pem -> ..2026_xx/bundle.pem` suddenly names
another inode. A `TlsSource` turns such files into a TLS context (whatever its builder makes: an
`ssl.SSLContext` for `https-client`, a pyOpenSSL context and trust anchors for `demo-server`)
and rebuilds it when they change:

* `refresh()` is cheap: one `stat()` per file (following symlinks). Only a changed inode, size
  or mtime makes it read the files, and only changed contents make it build a new context.
* Material is checked before use: the key must be the leaf's key, the PEM must be complete,
  a trust bundle must hold at least one certificate. Bad material (a half-written file, a key
  for another certificate) is logged once and ignored; the previous context stays current.
* We read the *resolved* path and let OpenSSL load that same file (both `ssl` and pyOpenSSL
  load credential bundles by path). The kubelet never rewrites a timestamped directory, and for
  any other writer we re-read after loading and discard the context if the contents moved
  underneath us, so a context never mixes two versions.
* Swapping is one attribute assignment. Users fetch `current()` once per connection, so open
  connections keep the context they were accepted with and new handshakes use the new one.

Key material is never logged: only paths, digests, serial numbers and names. The PEM itself
is read by `meshtool.pki.pem` (the one reader), whose errors never quote key material either.
"""

from __future__ import annotations

import hashlib
import logging
import os
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cryptography import x509
from OpenSSL import SSL

from meshtool.pki import pem

log = logging.getLogger(__name__)

C = TypeVar("C")  # the context a builder makes


class InvalidMaterial(ValueError):
    """A credential or trust bundle file is incomplete or inconsistent."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The bytes of one file, read through its symlinks."""

    path: str  # the resolved file, inside the kubelet's timestamped directory
    data: bytes

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True, slots=True)
class Loaded(Generic[C]):
    context: C
    summary: str  # what was loaded, for the log (never key material)


Builder = Callable[[Sequence[Snapshot]], Loaded[C]]


def snapshot(path: str) -> Snapshot:
    real = os.path.realpath(path)
    with open(real, "rb") as f:
        return Snapshot(real, f.read())


def check_credential_bundle(data: bytes) -> x509.Certificate:
    """Return the leaf of a kubelet credential bundle whose key matches it (`pki.pem` reads it)."""
    try:
        return pem.credential(data).chain[0]
    except pem.PemError as exc:
        raise InvalidMaterial(f"unusable credential bundle: {exc}") from None


def check_trust_bundle(data: bytes) -> list[x509.Certificate]:
    try:
        return list(pem.certificates(data))
    except pem.PemError as exc:
        raise InvalidMaterial(f"unreadable trust bundle: {exc}") from None


def load_credentials(ctx: ssl.SSLContext, creds: Snapshot) -> str:
    """Install a credential bundle into `ctx`; return a one-line description of its leaf."""
    leaf = check_credential_bundle(creds.data)
    ctx.load_cert_chain(creds.path)  # OpenSSL skips the key block when reading the chain
    return f"leaf serial {leaf.serial_number:x}"


def load_openssl_credentials(ctx: SSL.Context, creds: Snapshot) -> str:
    """`load_credentials` for a pyOpenSSL context (which reports errors as `InvalidMaterial`)."""
    leaf = check_credential_bundle(creds.data)
    try:
        ctx.use_certificate_chain_file(creds.path)  # skips the key block, as `ssl` does
        ctx.use_privatekey_file(creds.path)
        ctx.check_privatekey()
    except SSL.Error as exc:
        raise InvalidMaterial(f"OpenSSL refused the credential bundle: {exc}") from None
    return f"leaf serial {leaf.serial_number:x}"


def load_trust(ctx: ssl.SSLContext, trust: Snapshot) -> str:
    roots = check_trust_bundle(trust.data)
    ctx.load_verify_locations(cadata=trust.data.decode("ascii"))
    return f"{len(roots)} trust anchor(s)"


class TlsSource(Generic[C]):
    """A context built from `paths` by `build`, rebuilt whenever their contents change."""

    def __init__(self, *, paths: Sequence[str], build: Builder[C]) -> None:
        self._paths = list(paths)
        self._build = build
        self._stats: list[tuple[int, int, int, int] | None] = []
        self._digests: list[str] = []
        self._rejected: list[str] = []
        self._current: C | None = None

    def current(self) -> C:
        if self._current is None:
            raise InvalidMaterial(f"no usable TLS material yet in {', '.join(self._paths)}")
        return self._current

    def refresh(self) -> bool:
        """Reload if the files changed; True when a new context was swapped in."""
        stats = [_stat(p) for p in self._paths]
        if stats == self._stats:
            return False
        try:
            snaps = [snapshot(p) for p in self._paths]
            digests = [s.digest for s in snaps]
            if digests == self._digests:
                self._stats = stats
                return False
            loaded = self._build(snaps)
        except (OSError, ValueError) as exc:  # includes InvalidMaterial and ssl.SSLError
            self._stats = stats  # retry only once the files change again
            self._reject([_stat_key(s) for s in stats], exc)
            return False
        if [snapshot(s.path).digest for s in snaps] != digests:
            return False  # rewritten while loading: next refresh sees the final version
        self._stats, self._digests, self._current = stats, digests, loaded.context
        log.info("loaded TLS material from %s: %s", ", ".join(self._paths), loaded.summary)
        return True

    def _reject(self, fingerprint: list[str], exc: Exception) -> None:
        if fingerprint != self._rejected:
            log.warning("ignoring TLS material in %s: %s", ", ".join(self._paths), exc)
        self._rejected = fingerprint


def poll(sources: Sequence[TlsSource[Any]], *, interval: float, stop: threading.Event) -> None:
    """Refresh `sources` every `interval` seconds until `stop` is set."""
    while not stop.wait(interval):
        for source in sources:
            source.refresh()


def _stat(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _stat_key(stat: tuple[int, int, int, int] | None) -> str:
    return "missing" if stat is None else ":".join(map(str, stat))
