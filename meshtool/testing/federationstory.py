"""The two-cluster federation story, run once and returned as a report (the test asserts on it,
`meshtool demo` prints it as the `spiffe-federation` scenario).

On a started `twoclusters.Pair`: read both bundles out of band (trust domains, sequences);
federate both ways; run a client pod in east and a server pod in west, each with a credential
folder holding its own trust domain's bundle and the peer's; check with cryptography's X.509
verifier that each side's SVID verifies against the bundle file of its own trust domain in the
other's folder and not against the other file (no merged store); run demo-server in west and
https-client in east over mTLS, each verifying the other with the peer trust domain's bundle; then
rotate east's CA (`meshtool ca prepare`) and wait until the new root reaches west's federated
bundle and the server's folder at the next refresh, then activate it and show the client's new
leaf from it passing west's server; then de-federate (east deletes its FederatedTrustDomain for
west): the bundle goes, the client's `west.test` file empties (the kubelet writes an empty file
for an optional source that selects nothing; a missing file counts the same) and the same call
is refused with a message naming the trust domain. Every wait has a deadline; a check that fails
is recorded, and the story stops at the first wait that times out (recorded as a failed check).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import verification
from cryptography.x509.oid import AuthorityInformationAccessOID

from meshtool.api import trustbundle
from meshtool.pki import capool, pem
from meshtool.testing import federation, spiffeapps
from meshtool.testing.spiffecluster import SpiffeCluster, until
from meshtool.testing.twoclusters import Pair, federate_both_ways, wait_defederated

NAMESPACE = "federation"
SERVER_HOST = f"server.{NAMESPACE}.svc"
FILE_TIMEOUT = 30.0
JSON = dict[str, Any]


@dataclass(slots=True)
class Report:
    facts: list[tuple[str, str]] = field(default_factory=list)
    checks: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(ok for _, ok in self.checks)

    def fact(self, label: str, value: str) -> None:
        self.facts.append((label, value))

    def check(self, what: str, ok: bool) -> bool:
        self.checks.append((what, ok))
        return ok

    def lines(self) -> list[str]:
        width = max((len(label) for label, _ in self.facts), default=0) + 1
        out = [f"{label + ':':<{width}} {value}" for label, value in self.facts]
        return out + [f"{'ok  ' if ok else 'FAIL'} {what}" for what, ok in self.checks]


async def run(pair: Pair, *, logs: Path, rotation_timeout: float = 60.0) -> Report:
    report = Report()
    try:
        await _story(pair, report, logs=logs, rotation_timeout=rotation_timeout)
    except TimeoutError as exc:
        report.check(str(exc), False)
    return report


@dataclass(frozen=True, slots=True)
class Scene:
    """Who takes part once the pods run: east's client, west's server and its process."""

    east: SpiffeCluster
    west: SpiffeCluster
    client: Path
    """The client pod's credential folder (in east)."""
    server: Path
    """The server pod's credential folder (in west)."""
    app: spiffeapps.Server
    client_id: str
    server_id: str

    async def call(self) -> spiffeapps.CallResult:
        return await spiffeapps.call(self.app, folder=self.client, server_id=self.server_id)


async def _story(pair: Pair, report: Report, *, logs: Path, rotation_timeout: float) -> None:
    east, west = pair.east, pair.west
    await _describe(report, east, west)
    await federate_both_ways(pair)
    report.check("each cluster publishes the other's federated bundle", True)
    client, server = await _pods(east, west)
    _check_per_domain(report, client, server, east.trust_domain, west.trust_domain)
    client_id, server_id = east.spiffe_id(NAMESPACE, "client"), west.spiffe_id(NAMESPACE, "server")
    app = await spiffeapps.start_server(
        host=SERVER_HOST, folder=server, allowed_clients=[client_id], log=logs / "west-server.log"
    )
    try:
        scene = Scene(east, west, client, server, app, client_id, server_id)
        first = await scene.call()
        report.fact("mTLS call", f"{client_id} -> {server_id}: {_request_line(first.output)}")
        report.check(
            "east's client and west's server talk mTLS, the server echoes the client's ID",
            first.ok and client_id in first.echoed(),
        )
        await _rotate(report, scene, timeout=rotation_timeout)
        await _defederate(report, scene)
    finally:
        app.stop()


async def _pods(east: SpiffeCluster, west: SpiffeCluster) -> tuple[Path, Path]:
    """The client's folder in east and the server's in west, each holding the peer's bundle."""
    east_td, west_td = east.trust_domain, west.trust_domain
    client = await east.workload(NAMESPACE, "client", service_account="client", peers=[west_td])
    server = await west.workload(NAMESPACE, "server", service_account="server", peers=[east_td])
    await _wait_file(client / federation.bundle_file(west_td), lambda b: bool(b))
    await _wait_file(server / federation.bundle_file(east_td), lambda b: bool(b))
    return client, server


async def _describe(report: Report, east: SpiffeCluster, west: SpiffeCluster) -> None:
    for cluster in (east, west):
        _, bundle = await cluster.bootstrap()
        report.fact(
            f"{cluster.name}",
            f"trust domain {cluster.trust_domain}, Kubernetes {cluster.plane.server_version}, "
            f"bundle endpoint {cluster.endpoint_url} ({cluster.endpoint_id}), "
            f"sequence {bundle.sequence}, refresh hint {bundle.refresh_hint}s",
        )


def _check_per_domain(
    report: Report, client: Path, server: Path, east_td: str, west_td: str
) -> None:
    client_chain = _chain(client)
    server_chain = _chain(server)
    report.fact("client SVID", _describe_leaf(client_chain[0]))
    report.fact("server SVID", _describe_leaf(server_chain[0]))
    peer_of_server = (server / federation.bundle_file(east_td)).read_bytes()
    own_of_server = (server / federation.bundle_file(west_td)).read_bytes()
    peer_of_client = (client / federation.bundle_file(west_td)).read_bytes()
    report.check(
        "each SVID verifies against its own trust domain's file in the peer's folder, "
        "and not against the other file (X.509 verifier)",
        verifies(client_chain, peer_of_server)
        and verifies(server_chain, peer_of_client)
        and not verifies(client_chain, own_of_server),
    )


async def _rotate(report: Report, scene: Scene, *, timeout: float) -> None:
    """Prepare a CA in east; once west trusts it (next refresh), east signs with it, and the
    client's new leaf from it passes west's server."""
    east, west = scene.east, scene.west
    _, before = await east.bootstrap()
    started = time.monotonic()
    new = await east.prepare_ca()
    root = new.root.public_bytes(Encoding.DER)

    async def reached_west() -> bool:
        bundles = await west.bundles_for(east.trust_domain)
        pems = [str(b["spec"]["trustBundle"]) for b in bundles]
        return any(root in trustbundle.certificates_der(text) for text in pems)

    await until(reached_west, timeout=timeout, what=f"east's CA {new.id} to reach west")
    took = time.monotonic() - started
    peer_file = scene.server / federation.bundle_file(east.trust_domain)
    await _wait_file(peer_file, lambda b: root in _ders(b))
    _, after = await east.bootstrap()
    status = await _status_at(west, east.trust_domain, after.sequence)
    report.fact(
        "CA rotation",
        f"{east.trust_domain} CA {new.id} prepared; sequence {before.sequence} -> "
        f"{after.sequence}; in west's federated bundle and the server's folder after {took:.1f}s",
    )
    report.fact(
        f"west's {east.trust_domain}",
        f"FederatedTrustDomain status: sequence {status.get('sequence')}, "
        f"last fetch {status.get('lastSuccessfulFetchTime')}",
    )
    grown = (after.sequence or 0) > (before.sequence or 0)
    report.check("a CA rotation in east reaches west at the next refresh", grown)
    await _sign_with(report, scene, new)


async def _sign_with(report: Report, scene: Scene, new: capool.CA) -> None:
    east = scene.east
    await east.activate_ca(new.id)

    async def renewed_by_new() -> bool:  # the controller picks the pool file up within seconds
        await east.refresh(NAMESPACE, "client")
        return _chain(scene.client)[0].issuer == new.issuer_cert.subject

    await until(renewed_by_new, timeout=FILE_TIMEOUT, what=f"a client leaf from CA {new.id}")
    again = await scene.call()
    report.fact(f"leaf from {east.trust_domain} CA {new.id}", _request_line(again.output))
    report.check(
        f"the client's leaf from the new CA {new.id} passes west's server",
        again.ok,
    )


async def _status_at(cluster: SpiffeCluster, peer_td: str, sequence: int | None) -> JSON:
    """The FederatedTrustDomain's status once it reports `sequence`."""
    found: JSON = {}

    async def reported() -> bool:
        found.update(await cluster.federation_status(peer_td))
        return found.get("sequence") == sequence

    await until(reported, timeout=FILE_TIMEOUT, what=f"{cluster.name}'s status of {peer_td}")
    return found


async def _defederate(report: Report, scene: Scene) -> None:
    east, west_td = scene.east, scene.west.trust_domain
    await east.defederate(west_td)
    await wait_defederated(east, west_td, timeout=FILE_TIMEOUT)
    peer_file = scene.client / federation.bundle_file(west_td)
    await _wait_file(peer_file, lambda b: not b)
    state = "empty (an optional source that selects nothing)" if peer_file.is_file() else "gone"
    report.fact("de-federated", f"client's {peer_file.name}: {state}")
    refused = await scene.call()
    report.fact("after de-federation", _request_line(refused.output))
    report.check(
        f"east de-federates {west_td}: its bundle goes, the client's file empties, "
        "the same call is refused naming the trust domain",
        not refused.ok and west_td in refused.output,
    )


def _describe_leaf(leaf: x509.Certificate) -> str:
    """Its SPIFFE ID and the issuing cluster's anchors URL (AIA caIssuers), if it names one."""
    ext = leaf.extensions
    san = ext.get_extension_for_class(x509.SubjectAlternativeName).value
    ids = ", ".join(san.get_values_for_type(x509.UniformResourceIdentifier))
    try:
        aia = ext.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return f"{ids} (no caIssuers URL)"
    urls = [
        str(d.access_location.value)
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
    ]
    return f"{ids}, caIssuers {', '.join(urls) or '(none)'}"


def _chain(folder: Path) -> tuple[x509.Certificate, ...]:
    return pem.credential((folder / federation.CREDENTIAL_BUNDLE).read_bytes()).chain


def verifies(chain: tuple[x509.Certificate, ...], anchors_pem: bytes) -> bool:
    """Whether `chain` (leaf first) verifies against `anchors_pem` as a TLS client's would."""
    if not anchors_pem.strip():
        return False  # a de-federated peer's file: nothing to trust
    anchors = list(pem.certificates(anchors_pem))
    builder = verification.PolicyBuilder().store(verification.Store(anchors))
    verifier = builder.time(dt.datetime.now(dt.UTC)).build_client_verifier()
    try:
        verifier.verify(chain[0], list(chain[1:]))
    except verification.VerificationError:
        return False
    return True


async def _wait_file(path: Path, done: Callable[[bytes], bool]) -> None:
    """Until `done(content)`; a missing file reads as empty (no bundle, as the library reads it)."""

    async def check() -> bool:
        return done(path.read_bytes() if path.is_file() else b"")

    await until(check, timeout=FILE_TIMEOUT, what=f"{path.name} in {path.parent}")


def _ders(content: bytes) -> list[bytes]:
    return [block.der for block in pem.blocks(content)]


def _request_line(output: str) -> str:
    """The client's log line for its request, from `GET` on (no timestamp)."""
    for line in output.splitlines():
        if "GET " in line:
            return line[line.index("GET ") :].strip()
    return _last_line(output)


def _last_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output)"
