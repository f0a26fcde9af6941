"""`meshtool inspect FILE`: say what a credential file holds.

FILE (`-` for stdin) may be a credential bundle (a PKCS#8 PRIVATE KEY block and its chain, as
the kubelet writes it), a certificate chain, a trust bundle (only CA certificates) or a CA pool
JSON, or `kubectl get -o json|yaml` output of ClusterTrustBundles or a CA pool Secret, whose
contents are shown under the object's name (`meshtool.cli.inputs`). For each
certificate it prints subject, issuer, serial, validity, key type and fingerprint, the CA flag,
the SANs, the SPIFFE ID, the issuing cluster's anchors URL (the AIA caIssuers URL meshtool
puts under the cluster issuer) and the Kubernetes PodIdentity fields when present. When a DNS
name is in one of the service-dns signer's other forms (a per-pod name under a headless
Service, or a name under the cluster domain or a cross-cluster suffix), every DNS name is also
explained (`meshtool.signers.dnsforms.describe`). Keys are described by type and public
fingerprint only; key material is never printed.

With `--trust-bundle`, it also verifies the chain against those anchors with
`meshtool.pki.chain` (which, unlike cryptography's Web PKI verifier, accepts Ed25519) and exits
non-zero if it does not verify. With `--fetch-anchors`, it fetches the anchors from the leaf's
caIssuers URL over HTTPS (`meshtool.anchorclient`; the server verified against
`--issuer-ca-file` or the system trust store) and verifies the chain against them, exiting
non-zero if it cannot. Unreadable input is one line on stderr and exit status 1.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from cryptography import x509

from meshtool import clock
from meshtool.anchorclient import discovery, fetch
from meshtool.cli import inputs
from meshtool.pki import caissuers, capool, chain, keys, pem, podidentity
from meshtool.signers import dnsforms

_T = TypeVar("_T")
_NOT_RECOGNISED = "not a credential bundle, certificate chain, trust bundle or CA pool"


@click.command("inspect")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))
@click.option(
    "--trust-bundle",
    type=click.Path(dir_okay=False),
    help="PEM trust anchors (or ClusterTrustBundle objects); verify FILE's chain against them.",
)
@click.option(
    "--fetch-anchors",
    is_flag=True,
    help="Fetch the anchors from the leaf's caIssuers URL (its issuing cluster) over HTTPS and "
    "verify FILE's chain against them.",
)
@click.option(
    "--issuer-ca-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM CA certificates that verify the anchors server (default: the system trust store).",
)
def inspect_command(
    file: str, trust_bundle: str | None, fetch_anchors: bool, issuer_ca_file: Path | None
) -> None:
    """Summarize a credential bundle, certificate chain, trust bundle, CA pool or CTB/Secret."""
    system = clock.SystemClock()
    parts = _parsed(file, lambda part: summarize(part.data, clock=system))
    anchors = (
        _parsed(trust_bundle, lambda part: pem.certificates(part.data)) if trust_bundle else []
    )
    for label, (lines, _) in parts:
        click.echo("\n".join([f"{label}:", *lines] if label else lines))
    if trust_bundle:
        chains = [certs for _, (_, certs) in parts]
        certs = chains[0] if len(chains) == 1 else None
        roots = tuple(cert for _, found in anchors for cert in found)
        click.echo(_verification(certs, roots, now=system.now()))
    if fetch_anchors:
        chains = [certs for _, (_, certs) in parts]
        certs = chains[0] if len(chains) == 1 else None
        click.echo(_fetched_verification(certs, issuer_ca_file, now=system.now()))


def summarize(
    data: bytes, *, clock: clock.Clock
) -> tuple[list[str], tuple[x509.Certificate, ...] | None]:
    """Lines describing `data`, and its chain (None for a CA pool)."""
    now = clock.now()
    if data.lstrip().startswith(b"{"):
        return _pool_lines(capool.load(data, clock=clock, allow_expired=True), now), None
    found = pem.blocks(data)
    if not found:
        raise pem.PemError(_NOT_RECOGNISED)
    if any(block.type == pem.PRIVATE_KEY for block in found):
        bundle = pem.credential(data)
        key = bundle.key
        fingerprint = keys.fingerprint(key.public_key())
        head = f"credential bundle: {keys.describe(key)} private key {fingerprint}"
        return [head, *_chain_lines(bundle.chain, now)], bundle.chain
    certs = pem.certificates(data)
    kind = "trust bundle" if all(_is_ca(cert) for cert in certs) else "certificate chain"
    return [f"{kind}: {len(certs)} certificate(s)", *_chain_lines(certs, now)], certs


def certificate_lines(
    cert: x509.Certificate, label: str, now: dt.datetime, *, indent: str = ""
) -> list[str]:
    key = pem.public_key(cert)
    lines = [
        f"{label}:",
        f"  subject:     {cert.subject.rfc4514_string() or '(empty)'}",
        f"  issuer:      {cert.issuer.rfc4514_string() or '(empty)'}",
        f"  serial:      {cert.serial_number:x}",
        f"  validity:    {_validity(cert, now)}",
        f"  key:         {keys.describe(key)} {keys.fingerprint(key)}",
        f"  CA:          {'yes' if _is_ca(cert) else 'no'}",
    ]
    lines += _san_lines(cert) + _issuer_lines(cert) + _pod_identity_lines(cert)
    return [indent + line for line in lines]


def _chain_lines(certs: tuple[x509.Certificate, ...], now: dt.datetime) -> list[str]:
    return [
        line
        for index, cert in enumerate(certs, 1)
        for line in certificate_lines(cert, f"certificate {index}", now)
    ]


def _pool_lines(pool: capool.CAPool, now: dt.datetime) -> list[str]:
    lines = [f"CA pool: {len(pool.cas)} CA(s)"]
    if pool.signing_ca.not_after <= now:
        lines.append(
            f'EXPIRED: the signing CA "{pool.signing_ca.id}" expired at '
            f"{pool.signing_ca.not_after.isoformat()}; this pool cannot sign"
        )
    for ca in pool.cas:
        role = " (signing)" if ca is pool.signing_ca else ""
        key = ca.signing_key
        lines.append(
            f'CA "{ca.id}"{role}: {keys.describe(key)} key {keys.fingerprint(key.public_key())}'
        )
        lines += certificate_lines(ca.root, "root", now, indent="  ")
        for index, cert in enumerate(ca.intermediates, 1):
            lines += certificate_lines(cert, f"intermediate {index}", now, indent="  ")
        lines.append(f"  role:        {pool.role(ca)}{'' if ca.state else ' (inferred)'}")
    return lines


def _san_lines(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    dns = san.get_values_for_type(x509.DNSName)
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    lines = [f"  DNS:         {', '.join(dns)}"] if dns else []
    lines += _name_form_lines(dns)
    lines += [f"  URI:         {', '.join(uris)}"] if uris else []
    spiffe = [uri for uri in uris if uri.startswith("spiffe://")]
    if len(spiffe) == 1 and len(uris) == 1:
        lines.append(f"  SPIFFE ID:   {spiffe[0]}")
    elif spiffe:
        lines.append("  SPIFFE ID:   none (an SVID has exactly one URI SAN)")
    return lines


def _name_form_lines(dns: list[str]) -> list[str]:
    described = {name: dnsforms.describe(name) for name in dns}
    plain = all(" under " not in d and not d.startswith("pod ") for d in described.values())
    return [] if plain else [f"    {name}: {d}" for name, d in described.items()]


def _issuer_lines(cert: x509.Certificate) -> list[str]:
    lines = []
    for url in caissuers.urls(cert):
        lines.append(f"  issuer URL:  {url}")
        cluster = discovery.issuing_cluster(url)
        if cluster is not None:
            lines.append(f"    issuing cluster {cluster[0]}, signer {cluster[1]}")
    return lines


def _pod_identity_lines(cert: x509.Certificate) -> list[str]:
    try:
        identity = podidentity.from_certificate(cert)
    except ValueError as exc:
        return [f"  PodIdentity: present but malformed ({exc})"]
    if identity is None:
        return []
    return ["  PodIdentity:"] + [f"    {k}: {v}" for k, v in identity.as_dict().items()]


def _verification(
    certs: tuple[x509.Certificate, ...] | None,
    anchors: tuple[x509.Certificate, ...],
    *,
    now: dt.datetime,
) -> str:
    if certs is None:
        raise click.ClickException(
            "--trust-bundle needs one certificate chain, not a CA pool or several objects"
        )
    try:
        path = chain.verify(certs, anchors, now=now)
    except chain.ChainError as exc:
        raise click.ClickException(f"chain does not verify: {exc}") from None
    root = path[-1].subject.rfc4514_string() or "(empty subject)"
    return f"chain verifies: {len(path)} certificate(s) up to trust anchor {root}"


def _fetched_verification(
    certs: tuple[x509.Certificate, ...] | None, ca_file: Path | None, *, now: dt.datetime
) -> str:
    if certs is None:
        raise click.ClickException(
            "--fetch-anchors needs one certificate chain, not a CA pool or several objects"
        )

    async def get(url: str) -> bytes:
        return await fetch.get(url, ca_file=ca_file)

    try:
        found = asyncio.run(discovery.discover(certs, fetch=get, now=now))
    except (discovery.DiscoveryError, fetch.FetchError) as exc:
        raise click.ClickException(f"issuer anchors: {exc}") from None
    root = found.path[-1].subject.rfc4514_string() or "(empty subject)"
    return (
        f"anchors from {found.url}: {len(found.anchors)} certificate(s)\n"
        f"chain verifies against the issuer's anchors: {len(found.path)} certificate(s) up to "
        f"trust anchor {root}"
    )


def _validity(cert: x509.Certificate, now: dt.datetime) -> str:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    status = "expired" if now > end else "not yet valid" if now < start else "valid"
    return f"{start.isoformat()} .. {end.isoformat()} ({status})"


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _parsed(path: str, parse: Callable[[inputs.Part], _T]) -> list[tuple[str | None, _T]]:
    """`parse` applied to each part of the input; any problem becomes one line naming it."""
    where = inputs.name(path)
    try:
        data = inputs.read(path)
    except OSError as exc:
        raise click.ClickException(f"cannot read {where}: {exc.strerror}") from None
    try:
        found = inputs.parts(data)
    except inputs.InputError as exc:
        raise click.ClickException(f"{where}: {exc}") from None
    return [(part.label, _part(where, part, parse)) for part in found]


def _part(where: str, part: inputs.Part, parse: Callable[[inputs.Part], _T]) -> _T:
    try:
        return parse(part)
    except (pem.PemError, capool.CAPoolError) as exc:
        label = f"{part.label}: " if part.label else ""
        raise click.ClickException(f"{where}: {label}{exc}") from None


COMMANDS: list[click.Command] = [inspect_command]
