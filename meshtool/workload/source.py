"""Files that the kubelet keeps up to date, followed by `stat` and turned into one current value.

The kubelet writes a projected volume as a timestamped directory and swaps the `..data` symlink,
so `creds/x.pem -> ..data/x.pem -> ..2026_xx/x.pem` suddenly names another inode, and files may
appear or disappear in the same swap (a trust domain federated or de-federated). A `Source`
asks its `files()` for the current name -> path map (a folder listing, or fixed paths) and turns
those files into a value with its `build` (a TLS context and what it was made from):

* `refresh()` is cheap: one `stat()` per file (following symlinks), plus whatever `files()`
  costs (one `listdir` for a folder). Only a changed map, inode, size or mtime makes it read
  the files, and only changed contents make it build.
* Each file is read in one open/read/close, from its *resolved* path. The kubelet never
  rewrites a timestamped directory; for any other writer we re-read after building and drop
  the result if the contents moved underneath us, so a value never mixes two versions (and a
  builder may let OpenSSL load that same resolved path).
* A build that fails (a half-written file, a key for another certificate, a bad trust bundle)
  is logged once, in one line, and the previous value stays current until the files change.
  A build that raises `Withdrawn` read good files that leave nothing to use (a client whose
  server's trust domain was de-federated): then there is no current value, so trust that was
  taken away is not kept alive by the previous one.
* Swapping is one attribute assignment. Users fetch `current()` once per connection, so open
  connections keep what they were accepted with and new handshakes use the new value.

Key material is never logged: only paths, digests, serial numbers and names (builders' errors
come from `meshtool.pki.pem`, whose messages never quote key material either).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

C = TypeVar("C")  # what a builder makes
_Stat = tuple[int, int, int, int] | None


class InvalidMaterial(ValueError):
    """A credential or trust bundle file is incomplete or inconsistent."""


class Withdrawn(InvalidMaterial):
    """The files are good but leave nothing to build: the current value is dropped."""


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
    value: C
    summary: str  # what was loaded, for the log (never key material)


Files = Callable[[], Mapping[str, str]]
"""The files to follow now: name (the builder's key) -> path."""
Builder = Callable[[Mapping[str, Snapshot]], Loaded[C]]


def snapshot(path: str) -> Snapshot:
    real = os.path.realpath(path)
    with open(real, "rb") as f:
        return Snapshot(real, f.read())


def fixed(files: Mapping[str, str]) -> Files:
    """`files()` for paths that never change (each may still be swapped underneath)."""
    frozen = dict(files)
    return lambda: frozen


class Source(Generic[C]):
    """A value built by `build` from the `files()`, rebuilt whenever they change."""

    def __init__(self, *, files: Files, build: Builder[C], label: str) -> None:
        self._files = files
        self._build = build
        self._label = label  # the folder or paths, for messages
        self._stats: list[tuple[str, str, _Stat]] | None = None
        self._digests: dict[str, str] = {}
        self._rejected: list[tuple[str, str, _Stat]] | None = None
        self._current: C | None = None
        self._withdrawn = ""

    def current(self) -> C:
        if self._current is None:
            raise InvalidMaterial(self._withdrawn or f"no usable TLS material yet in {self._label}")
        return self._current

    def refresh(self) -> bool:
        """Reload if the files changed; True when a new value was swapped in."""
        files = dict(self._files())
        stats = sorted((name, path, _stat(path)) for name, path in files.items())
        if stats == self._stats:
            return False
        try:
            snaps = {name: snapshot(path) for name, path in files.items()}
            digests = {name: s.digest for name, s in snaps.items()}
            if digests == self._digests and self._current is not None:
                self._stats = stats
                return False
            loaded = self._build(snaps)
        except Withdrawn as exc:
            self._stats, self._digests, self._current = stats, digests, None
            self._withdrawn = f"{self._label}: {exc}"
            log.warning("no TLS material to use in %s: %s", self._label, exc)
            return True
        except (OSError, ValueError) as exc:  # includes InvalidMaterial and ssl.SSLError
            self._stats = stats  # retry only once the files change again
            self._reject(stats, exc)
            return False
        if {name: snapshot(s.path).digest for name, s in snaps.items()} != digests:
            return False  # rewritten while loading: the next refresh sees the final version
        self._stats, self._digests, self._current = stats, digests, loaded.value
        self._withdrawn = ""
        log.info("loaded TLS material from %s: %s", self._label, loaded.summary)
        return True

    def _reject(self, fingerprint: list[tuple[str, str, _Stat]], exc: Exception) -> None:
        if fingerprint != self._rejected:
            log.warning("ignoring TLS material in %s: %s", self._label, exc)
        self._rejected = fingerprint


def poll(sources: Sequence[Source[Any]], *, interval: float, stop: threading.Event) -> None:
    """Refresh `sources` every `interval` seconds until `stop` is set."""
    while not stop.wait(interval):
        for source in sources:
            source.refresh()


def _stat(path: str) -> _Stat:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
