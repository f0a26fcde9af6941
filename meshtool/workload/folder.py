"""A SPIFFE credential folder (filesystem delivery draft) and the one immutable state read from it.

The folder holds `credential-bundle.pem` (a PKCS#8 PRIVATE KEY block, then the CERTIFICATE
chain, leaf first), written by a `podCertificate` projection, and one
`<trust-domain>.spiffe-trust-bundle.pem` per trust domain, local and federated, each written by
a `clusterTrustBundle` projection. `discover` finds it: an explicit path, else
`$SPIFFE_CREDENTIAL_FOLDER`, else the first of `WELL_KNOWN` that exists.

`State` is everything a TLS context is built from: our credential, our SPIFFE ID (from the
leaf; None when the leaf is not an SVID, e.g. a service-dns serving certificate next to SPIFFE
trust bundles), and the map trust domain -> anchors. It is made whole by `parse` from the
bytes of one read of each file, or refused whole: an unreadable credential, a key for another
leaf, a file name that is not a trust domain, a trust bundle that is not certificates. An empty
trust bundle file, like a missing one, means that trust domain has no bundle (de-federated).
Nothing here opens sockets; `follow` hands the reading to `meshtool.workload.source`.
"""

from __future__ import annotations

import os
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography import x509

from meshtool.pki import pem
from meshtool.signers import spiffeid
from meshtool.workload import source, svid

CREDENTIAL_BUNDLE = "credential-bundle.pem"
TRUST_BUNDLE_SUFFIX = ".spiffe-trust-bundle.pem"
ENVIRONMENT = "SPIFFE_CREDENTIAL_FOLDER"
WELL_KNOWN = (
    "/run/secrets/workload-spiffe-credentials",
    "/var/run/secrets/workload-spiffe-credentials",
)

Bundles = Mapping[str, tuple[x509.Certificate, ...]]


class FolderError(ValueError):
    """No credential folder could be found."""


@dataclass(frozen=True, slots=True)
class State:
    credential: pem.Credential | None
    credential_path: str | None  # the resolved file the credential was read from
    spiffe_id: spiffeid.SpiffeId | None
    bundles: Bundles  # read-only; never merged across trust domains

    @property
    def trust_domain(self) -> str | None:
        return self.spiffe_id.trust_domain if self.spiffe_id else None

    def summary(self) -> str:
        parts = []
        if self.credential is not None:
            leaf = self.credential.chain[0]
            parts.append(f"{self.spiffe_id or 'leaf'} serial {leaf.serial_number:x}")
        tds = ", ".join(f"{td} ({len(a)})" for td, a in sorted(self.bundles.items()))
        parts.append(f"trust bundles: {tds or 'none'}")
        return "; ".join(parts)


def discover(explicit: str | None, *, environ: Mapping[str, str]) -> str:
    """The credential folder: `explicit`, `$SPIFFE_CREDENTIAL_FOLDER`, or a well-known one."""
    if explicit:
        return explicit
    if environ.get(ENVIRONMENT):
        return environ[ENVIRONMENT]
    for candidate in WELL_KNOWN:
        if os.path.isdir(candidate):
            return candidate
    raise FolderError(
        f"no SPIFFE credential folder: none given, ${ENVIRONMENT} unset, "
        f"and none of {', '.join(WELL_KNOWN)} exists"
    )


def in_folder(folder: str) -> source.Files:
    """The folder's files now: the credential bundle (always) and every trust bundle listed."""

    def files() -> dict[str, str]:
        try:
            names = os.listdir(folder)
        except OSError:
            names = []
        found = {
            n: path
            for n in names
            if _is_trust_bundle(n) and os.path.exists(path := os.path.join(folder, n))
        }  # a dangling link is a file the writer removed
        return {CREDENTIAL_BUNDLE: os.path.join(folder, CREDENTIAL_BUNDLE), **found}

    return files


def as_folder(*, credential: str | None, bundles: Mapping[str, str]) -> source.Files:
    """Separate files named as a folder would name them: {trust domain: bundle path}."""
    files = {f"{td}{TRUST_BUNDLE_SUFFIX}": path for td, path in bundles.items()}
    if credential is not None:
        files[CREDENTIAL_BUNDLE] = credential
    return source.fixed(files)


def parse(snaps: Mapping[str, source.Snapshot]) -> State:
    """The state of a folder from one read of each file (names as `in_folder` gives them)."""
    cred = snaps.get(CREDENTIAL_BUNDLE)
    credential = _credential(cred) if cred is not None else None
    bundles = {}
    for name, snap in snaps.items():
        if name != CREDENTIAL_BUNDLE and (anchors := _trust_bundle(name, snap)):
            bundles[name.removesuffix(TRUST_BUNDLE_SUFFIX)] = anchors
    return State(
        credential=credential,
        credential_path=cred.path if cred else None,
        spiffe_id=_identity(credential),
        bundles=types.MappingProxyType(bundles),
    )


Bound = source.Source[tuple[State, source.C]]
"""A source whose value is the folder state and the context built from it, swapped together."""


def follow(files: source.Files, build: Callable[[State], source.C], label: str) -> Bound[source.C]:
    """A source of (state, what `build` makes of it), rebuilt when the files change."""

    def load(snaps: Mapping[str, source.Snapshot]) -> source.Loaded[tuple[State, source.C]]:
        state = parse(snaps)
        return source.Loaded((state, build(state)), state.summary())

    return source.Source(files=files, build=load, label=label)


def _is_trust_bundle(name: str) -> bool:
    return name.endswith(TRUST_BUNDLE_SUFFIX) and not name.startswith(".")


def _credential(snap: source.Snapshot) -> pem.Credential:
    try:
        return pem.credential(snap.data)
    except pem.PemError as exc:
        raise source.InvalidMaterial(f"{CREDENTIAL_BUNDLE}: unusable: {exc}") from None


def _identity(credential: pem.Credential | None) -> spiffeid.SpiffeId | None:
    if credential is None or not svid.uri_sans(credential.chain[0]):
        return None
    try:
        return svid.svid_id(credential.chain[0])
    except svid.PeerRejected as exc:
        raise source.InvalidMaterial(f"{CREDENTIAL_BUNDLE}: not a usable SVID: {exc}") from None


def _trust_bundle(name: str, snap: source.Snapshot) -> tuple[x509.Certificate, ...]:
    td = name.removesuffix(TRUST_BUNDLE_SUFFIX)
    try:
        spiffeid.validate_trust_domain(td)
    except spiffeid.InvalidSpiffeId as exc:
        raise source.InvalidMaterial(f"{name}: not named after a trust domain: {exc}") from None
    if not snap.data.strip():
        return ()
    try:
        return pem.certificates(snap.data)
    except pem.PemError as exc:
        raise source.InvalidMaterial(f"{name}: unreadable trust bundle: {exc}") from None
