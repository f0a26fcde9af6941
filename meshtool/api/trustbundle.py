"""ClusterTrustBundles: the objects through which pods learn which CAs to trust.

A signer publishes its trust anchors in a cluster-scoped ClusterTrustBundle whose name starts
with the signer name, `/` replaced by `:` (the API server insists on that prefix), followed by
a suffix; we use `primary-bundle`, like the upstream hermetic signer. `spec.trustBundle` is a
PEM list of CA certificates: CERTIFICATE blocks only, no headers, no duplicates, at least one.

Everything here is pure: building the desired object (`ctb_body`, the same shape in v1alpha1,
v1beta1 and v1), rendering the bundle (`trust_bundle_pem`, deduplicated by DER in first-seen
order so equal inputs give byte-equal output and updates happen only on real change), and
reading an existing object into a `TrustBundle` value for comparison.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from meshtool.api import wire
from meshtool.api.errors import MalformedObject
from meshtool.api.versions import PREFERENCE
from meshtool.pki import pem

PRIMARY_SUFFIX = "primary-bundle"


@dataclass(frozen=True, slots=True)
class TrustBundle:
    name: str
    signer_name: str
    """Empty for bundles not tied to a signer."""
    labels: Mapping[str, str] = field(default_factory=dict)
    pem: str = ""
    resource_version: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)


def bundle_name(signer_name: str, suffix: str = PRIMARY_SUFFIX) -> str:
    """`row-major.net/spiffe` -> `row-major.net:spiffe:primary-bundle`."""
    return f"{signer_name.replace('/', ':')}:{suffix}"


def ctb_body(
    *,
    version: str,
    name: str,
    signer_name: str,
    labels: Mapping[str, str],
    pem: str,
    annotations: Mapping[str, str] | None = None,
) -> wire.ClusterTrustBundle:
    if version not in PREFERENCE:
        raise ValueError(f"unknown ClusterTrustBundle version {version!r}")
    meta: wire.CTBMeta = {"name": name, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {
        "apiVersion": f"{wire.GROUP}/{version}",
        "kind": wire.CTB_KIND,
        "metadata": meta,
        "spec": {"signerName": signer_name, "trustBundle": pem},
    }


def trust_bundle_pem(certs_der: Iterable[bytes]) -> str:
    """CERTIFICATE blocks for `certs_der`, duplicates dropped, first-seen order kept."""
    return "".join(pem.encode_block(pem.CERTIFICATE, der) for der in dict.fromkeys(certs_der))


def certificates_der(bundle_pem: str) -> list[bytes]:
    """The DER of every decodable CERTIFICATE block, in order (for comparing bundles)."""
    try:
        found = pem.scan(bundle_pem)
    except pem.PemError:
        return []
    return [b.der for b in found if b.type == pem.CERTIFICATE and b.der is not None]


def parse(obj: Mapping[str, object]) -> TrustBundle:
    """Read a ClusterTrustBundle of any version; raises `MalformedObject` when broken."""
    meta = _mapping(obj, "metadata", "<unknown>")
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise MalformedObject(wire.CTB_KIND, "<unknown>", "metadata.name", "missing")
    spec = _mapping(obj, "spec", name)
    return TrustBundle(
        name=name,
        signer_name=_string(spec, "signerName", name, "spec."),
        labels=_labels(meta.get("labels"), name, "metadata.labels"),
        pem=_string(spec, "trustBundle", name, "spec."),
        resource_version=_string(meta, "resourceVersion", name, "metadata."),
        annotations=_labels(meta.get("annotations"), name, "metadata.annotations"),
    )


def _mapping(obj: Mapping[str, object], field: str, name: str) -> Mapping[str, object]:
    value = obj.get(field)
    if not isinstance(value, Mapping):
        raise MalformedObject(wire.CTB_KIND, name, field, "want an object")
    return value


def _string(obj: Mapping[str, object], field: str, name: str, prefix: str) -> str:
    value = obj.get(field) or ""
    if not isinstance(value, str):
        raise MalformedObject(wire.CTB_KIND, name, prefix + field, "want a string")
    return value


def _labels(value: object, name: str, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise MalformedObject(wire.CTB_KIND, name, field, "want a map of strings")
    return dict(value)
