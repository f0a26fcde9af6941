"""The Kubernetes PodIdentity X.509 extension (OID 1.3.6.1.4.1.57683.1).

The structure is the one Go's `k8s.io/component-helpers/kubernetesx509` package defines in
`kubernetesx509.go` (`podIdentityASN1`, marshalled with `encoding/asn1`): the extension value is
the DER of one SEQUENCE of seven UTF8Strings, in this order: namespace, service account name,
service account UID, pod name, pod UID, node name, node UID. The OID is the Kubernetes private
enterprise number 57683 plus sub-id 1. Go adds it non-critical; so do we.

`encode` writes exactly that DER. `decode` is strict DER (minimal lengths, no trailing bytes after
the SEQUENCE) but, like Go's decoder, also reads PrintableString and IA5String fields and ignores
extra elements after the seventh, which is how X.509 structures grow. Anything else raises
`ValueError`. This is a hand-written minimal DER codec so the package needs no ASN.1 dependency.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from cryptography import x509

from meshtool.pki.leafder import tlv

OID = x509.ObjectIdentifier("1.3.6.1.4.1.57683.1")

_SEQUENCE = 0x30
_UTF8_STRING = 0x0C
_ASCII_STRINGS = frozenset({0x13, 0x16})  # PrintableString, IA5String
_PRINTABLE = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?"
)


@dataclass(frozen=True, slots=True)
class PodIdentity:
    namespace: str
    service_account_name: str
    service_account_uid: str
    pod_name: str
    pod_uid: str
    node_name: str
    node_uid: str

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


_FIELDS = tuple(field.name for field in dataclasses.fields(PodIdentity))


def encode(identity: PodIdentity) -> bytes:
    """The DER extension value, byte-identical to Go's `AddPodIdentityToCertificate`."""
    body = b"".join(tlv(_UTF8_STRING, getattr(identity, name).encode("utf-8")) for name in _FIELDS)
    return tlv(_SEQUENCE, body)


def decode(der: bytes) -> PodIdentity:
    tag, body, rest = _read_tlv(der, 0)
    if tag != _SEQUENCE:
        raise ValueError("PodIdentity: not a SEQUENCE")
    if rest != len(der):
        raise ValueError("PodIdentity: trailing data after the SEQUENCE")
    values: list[str] = []
    offset = 0
    while offset < len(body):
        tag, content, offset = _read_tlv(body, offset)
        if len(values) < len(_FIELDS):
            values.append(_string(tag, content, _FIELDS[len(values)]))
    if len(values) < len(_FIELDS):
        raise ValueError(f"PodIdentity: {len(values)} fields, want {len(_FIELDS)}")
    return PodIdentity(*values)


def extension(identity: PodIdentity) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(OID, encode(identity))


def from_certificate(cert: x509.Certificate) -> PodIdentity | None:
    """The certificate's PodIdentity, or None without one; ValueError if it does not decode."""
    try:
        ext = cert.extensions.get_extension_for_oid(OID)
    except x509.ExtensionNotFound:
        return None
    if not isinstance(ext.value, x509.UnrecognizedExtension):  # pragma: no cover
        raise ValueError("PodIdentity: unexpected extension type")
    return decode(ext.value.value)


def _read_tlv(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """(tag, content, offset after the element) of the DER element at `offset`."""
    if offset + 2 > len(data):
        raise ValueError("PodIdentity: truncated element")
    tag, first = data[offset], data[offset + 1]
    offset += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        size = data[offset : offset + count]
        if count == 0 or count > 4 or len(size) != count:
            raise ValueError("PodIdentity: bad length")
        length = int.from_bytes(size, "big")
        if length < 0x80 or size[0] == 0:
            raise ValueError("PodIdentity: length not in minimal DER form")
        offset += count
    end = offset + length
    if end > len(data):
        raise ValueError("PodIdentity: truncated element")
    return tag, data[offset:end], end


def _string(tag: int, content: bytes, name: str) -> str:
    if tag == _UTF8_STRING:
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"PodIdentity: {name}: not valid UTF-8") from None
    if tag in _ASCII_STRINGS and content.isascii():
        if tag == 0x13 and not set(content) <= _PRINTABLE:
            raise ValueError(f"PodIdentity: {name}: not a valid PrintableString")
        return content.decode("ascii")
    raise ValueError(f"PodIdentity: {name}: not a UTF8String")
