"""The issuing cluster in a certificate: an Authority Information Access `caIssuers` URL.

Every leaf meshtool issues carries one non-critical AIA extension with exactly one
`caIssuers` access description, a URI under the cluster's service-account issuer where the
signer's trust anchors are served (the path is `meshtool.api.anchorpaths`; the design is
docs/decisions/0005). AIA is not a SAN, so an X509-SVID still has exactly one URI SAN.

This module builds that extension once per signer (`extension`), reads the URLs back from a
certificate (`urls`, `url`), and encodes and decodes the anchors documents: `.p7c` is a DER
PKCS#7 "certs-only" SignedData (RFC 5280 4.2.2.1), `.pem` the same certificates as PEM. It is
pure: fetching is `meshtool.anchorclient`'s job.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import AuthorityInformationAccessOID

from meshtool.pki import pem

P7C = "p7c"
PEM = "pem"


class AnchorsError(ValueError):
    """An anchors document that is not what its format says."""


def extension(url: str) -> x509.AuthorityInformationAccess:
    """The AIA value with one caIssuers URI; mark it non-critical when adding it."""
    if not url:
        raise ValueError("caIssuers URL is empty")
    location = x509.UniformResourceIdentifier(url)
    return x509.AuthorityInformationAccess(
        [x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS, location)]
    )


def urls(cert: x509.Certificate) -> tuple[str, ...]:
    """Every caIssuers URI of `cert`'s AIA extension, in order (none without one)."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    )


def url(cert: x509.Certificate) -> str | None:
    """The one caIssuers URI of `cert`, None without any; several raise `AnchorsError`."""
    found = urls(cert)
    if len(found) > 1:
        raise AnchorsError(f"the certificate names {len(found)} caIssuers URLs, expected one")
    return found[0] if found else None


def encode(certs: Sequence[x509.Certificate], fmt: str = P7C) -> bytes:
    """The anchors document of `certs` in `fmt` (`p7c` or `pem`)."""
    if not certs:
        raise AnchorsError("no certificates to encode")
    if fmt == P7C:
        return pkcs7.serialize_certificates(list(certs), serialization.Encoding.DER)
    if fmt == PEM:
        return pem.encode(list(certs)).encode("ascii")
    raise AnchorsError(f"unknown anchors format {fmt!r}")


def decode(data: bytes, fmt: str = P7C) -> tuple[x509.Certificate, ...]:
    """The certificates of an anchors document; anything else raises `AnchorsError`."""
    if fmt == P7C:
        try:
            found = tuple(pkcs7.load_der_pkcs7_certificates(data))
        except ValueError as exc:
            raise AnchorsError(f"not a DER PKCS#7 certificate bundle: {exc}") from None
    elif fmt == PEM:
        try:
            found = pem.certificates(data)
        except pem.PemError as exc:
            raise AnchorsError(f"not PEM certificates: {exc}") from None
    else:
        raise AnchorsError(f"unknown anchors format {fmt!r}")
    if not found:
        raise AnchorsError("the anchors document holds no certificate")
    return found


def format_of(location: str) -> str:
    """The anchors format a URL or path names by its suffix (`.pem`, else `.p7c`)."""
    return PEM if location.split("?", 1)[0].endswith(".pem") else P7C
