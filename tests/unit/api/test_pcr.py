from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from api import wireforms as wf
from meshtool.api import MalformedRequest, keys, pcr
from meshtool.api.types import Answered, KeySource, KeyType, PodCertRequest, Terminal, Unreadable


@pytest.mark.parametrize(("version", "form"), wf.WIRE_FORMS)
@pytest.mark.parametrize("key_type", wf.KEY_TYPES, ids=lambda k: k.value)
def test_every_wire_form_and_key_type(version: str, form: str, key_type: KeyType) -> None:
    key = wf.private_key(key_type)
    request = pcr.parse(wf.pcr(version=version, form=form, key=key))
    assert request.key_type is key_type
    assert request.key_error is None
    assert request.public_key is not None
    assert keys.spki_der(request.public_key) == wf.pkix_der(key)
    assert request.key_source is (KeySource.STUB_PKCS10 if form == "stub" else KeySource.PKIX)


@pytest.mark.parametrize(("version", "form"), wf.WIRE_FORMS)
def test_identity_fields(version: str, form: str) -> None:
    obj = wf.pcr(version=version, form=form)
    request = pcr.parse(obj)
    assert (request.namespace, request.name) == (wf.NAMESPACE, wf.NAME)
    assert request.key == f"{wf.NAMESPACE}/{wf.NAME}"
    assert request.uid == "0f0f0f0f-0000-0000-0000-000000000001"
    assert request.resource_version == "4711"
    assert request.signer_name == "row-major.net/spiffe"
    assert (request.pod_name, request.pod_uid) == (wf.POD, wf.POD_UID)
    assert (request.service_account_name, request.service_account_uid) == (wf.SA, wf.SA_UID)
    assert (request.node_name, request.node_uid) == (wf.NODE, wf.NODE_UID)
    assert request.max_expiration_seconds == 86400
    assert request.created_at == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert request.api_version == obj["apiVersion"]


@pytest.mark.parametrize("kind", wf.UNSUPPORTED)
@pytest.mark.parametrize(("version", "form"), wf.WIRE_FORMS)
def test_unsupported_key_types_parse_without_a_type(version: str, form: str, kind: str) -> None:
    request = pcr.parse(wf.pcr(version=version, form=form, key=wf.private_key(kind)))
    assert request.public_key is not None
    assert request.key_type is None
    assert request.key_error is None
    assert kind in keys.describe(request.public_key)


def test_max_expiration_defaults_to_a_day() -> None:
    obj = wf.pcr()
    del obj["spec"]["maxExpirationSeconds"]
    assert pcr.parse(obj).max_expiration_seconds == 86400
    assert pcr.parse(wf.pcr(maxExpirationSeconds=3600)).max_expiration_seconds == 3600


def test_annotations_are_read_from_v1beta1_and_v1_only() -> None:
    notes = {"example.com/flavour": "mint"}
    assert pcr.parse(wf.pcr(version="v1", annotations=notes)).user_annotations == notes
    beta = wf.pcr(version="v1beta1", form="pkix", annotations=notes)
    assert pcr.parse(beta).user_annotations == notes
    alpha = wf.pcr(version="v1alpha1", form="pkix")
    alpha["spec"]["unverifiedUserAnnotations"] = notes  # the field does not exist in v1alpha1
    assert pcr.parse(alpha).user_annotations == {}


def test_null_annotations_are_empty() -> None:
    assert pcr.parse(wf.pcr(unverifiedUserAnnotations=None)).user_annotations == {}


def test_v1beta1_prefers_the_stub_over_pkix() -> None:
    stub_key, pkix_key = wf.private_key(KeyType.ED25519), wf.private_key(KeyType.ECDSAP384)
    obj = wf.pcr(version="v1beta1", form="stub", key=stub_key)
    obj["spec"]["pkixPublicKey"] = wf.b64(wf.pkix_der(pkix_key))
    request = pcr.parse(obj)
    assert request.key_type is KeyType.ED25519
    assert request.key_source is KeySource.STUB_PKCS10


@pytest.mark.parametrize("stub", [None, ""])
def test_v1beta1_falls_back_to_pkix_when_the_stub_is_null_or_empty(stub: str | None) -> None:
    obj = wf.pcr(version="v1beta1", form="pkix", key=wf.private_key(KeyType.ECDSAP521))
    obj["spec"]["stubPKCS10Request"] = stub
    assert pcr.parse(obj).key_type is KeyType.ECDSAP521


def test_v1beta1_without_any_key_is_a_key_error() -> None:
    obj = wf.pcr(version="v1beta1", form="stub", stubPKCS10Request=None)
    request = pcr.parse(obj)
    assert request.public_key is None
    assert "neither" in (request.key_error or "")


@pytest.mark.parametrize("stub", [None, ""])
def test_v1_without_a_stub_is_a_key_error_naming_v1beta1(stub: str | None) -> None:
    request = pcr.parse(wf.pcr(version="v1", stubPKCS10Request=stub))
    assert request.public_key is None
    assert "v1beta1" in (request.key_error or "")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stubPKCS10Request", "not base64!"),
        ("stubPKCS10Request", wf.b64(b"\x30\x03\x02\x01\x00")),
        ("stubPKCS10Request", wf.b64(b"garbage")),
    ],
)
def test_garbage_stub_is_a_key_error(field: str, value: str) -> None:
    request = pcr.parse(wf.pcr(**{field: value}))
    assert request.public_key is None
    assert request.key_type is None
    assert "spec.stubPKCS10Request" in (request.key_error or "")


def test_garbage_pkix_is_a_key_error() -> None:
    request = pcr.parse(wf.pcr(version="v1beta1", form="pkix", pkixPublicKey=wf.b64(b"\x00" * 9)))
    assert request.public_key is None
    assert "spec.pkixPublicKey" in (request.key_error or "")


def test_a_pkix_key_in_the_stub_field_is_a_key_error() -> None:
    spki = wf.b64(wf.pkix_der(wf.private_key(KeyType.ED25519)))
    assert pcr.parse(wf.pcr(stubPKCS10Request=spki)).key_error is not None


@pytest.mark.parametrize(
    ("condition", "terminal"),
    [
        ({"type": "Issued", "status": "True"}, Terminal.ISSUED),
        ({"type": "Denied", "status": "True"}, Terminal.DENIED),
        ({"type": "Failed", "status": "True"}, Terminal.FAILED),
        ({"type": "Issued", "status": "False"}, None),
        ({"type": "SomethingElse", "status": "True"}, None),
    ],
)
def test_terminal_condition(condition: dict[str, str], terminal: Terminal | None) -> None:
    obj = wf.pcr(status={"conditions": [condition]})
    entry = pcr.read(obj)
    if terminal is None:
        assert isinstance(entry, PodCertRequest)
    else:
        assert entry == Answered(wf.NAMESPACE, wf.NAME, "row-major.net/spiffe", terminal)


@pytest.mark.parametrize("status", [{}, {"conditions": None}, "Issued", {"conditions": {}}])
def test_empty_or_odd_status_is_not_terminal(status: object) -> None:
    assert isinstance(pcr.read(wf.pcr(status=status)), PodCertRequest)


def test_a_broken_pending_request_is_kept_answerable() -> None:
    obj = _set(wf.pcr(), "spec.podUID", 5)
    entry = pcr.read(obj)
    assert isinstance(entry, Unreadable)
    assert (entry.key, entry.api_version) == (f"{wf.NAMESPACE}/{wf.NAME}", obj["apiVersion"])
    assert (entry.uid, entry.resource_version) == (obj["metadata"]["uid"], "4711")
    assert entry.signer_name == "row-major.net/spiffe"
    assert entry.error.startswith(f"PodCertificateRequest {wf.NAMESPACE}/{wf.NAME}: spec.podUID:")


def test_objects_without_api_version_are_malformed() -> None:
    obj = wf.pcr(version="v1beta1", form="pkix")
    del obj["apiVersion"], obj["kind"]
    with pytest.raises(MalformedRequest, match="apiVersion"):
        pcr.parse(obj)


def test_parse_does_not_mutate_its_input() -> None:
    obj = wf.pcr(annotations={"a.b/c": "d"}, status={"conditions": []})
    before = copy.deepcopy(obj)
    pcr.parse(obj)
    assert obj == before


def _set(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, leaf = path.split(".")
    target = obj
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[leaf]
    else:
        target[leaf] = value
    return obj


_DELETE = object()
REQUIRED_SPEC = [
    "signerName",
    "podName",
    "podUID",
    "serviceAccountName",
    "serviceAccountUID",
    "nodeName",
    "nodeUID",
]


@pytest.mark.parametrize("field", REQUIRED_SPEC)
@pytest.mark.parametrize("bad", [_DELETE, None, "", 7, ["x"]], ids=repr)
def test_missing_or_mistyped_spec_field(field: str, bad: Any) -> None:
    obj = _set(wf.pcr(), f"spec.{field}", bad)
    with pytest.raises(MalformedRequest) as info:
        pcr.parse(obj)
    assert str(info.value).startswith(f"PodCertificateRequest {wf.NAMESPACE}/{wf.NAME}: ")
    assert f"spec.{field}" in str(info.value)


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("spec", _DELETE, "spec"),
        ("spec", [], "spec"),
        ("spec.maxExpirationSeconds", "86400", "spec.maxExpirationSeconds"),
        ("spec.maxExpirationSeconds", True, "spec.maxExpirationSeconds"),
        ("spec.maxExpirationSeconds", 1.5, "spec.maxExpirationSeconds"),
        ("spec.stubPKCS10Request", 12, "spec.stubPKCS10Request"),
        ("spec.unverifiedUserAnnotations", ["a"], "spec.unverifiedUserAnnotations"),
        ("spec.unverifiedUserAnnotations", {"a.b/c": 1}, "spec.unverifiedUserAnnotations"),
        ("metadata.uid", 5, "metadata.uid"),
        ("metadata.resourceVersion", 5, "metadata.resourceVersion"),
        ("metadata.creationTimestamp", "yesterday", "metadata.creationTimestamp"),
        ("metadata.creationTimestamp", 0, "metadata.creationTimestamp"),
        ("apiVersion", "certificates.k8s.io/v2", "apiVersion"),
        ("apiVersion", 1, "apiVersion"),
    ],
)
def test_malformed_fields_are_named(path: str, value: Any, field: str) -> None:
    obj = _set(wf.pcr(), path, value)
    with pytest.raises(MalformedRequest, match=f"^PodCertificateRequest ns1/req-abc12: {field}:"):
        pcr.parse(obj)


def test_v1alpha1_requires_pkix() -> None:
    obj = wf.pcr(version="v1alpha1", form="pkix")
    del obj["spec"]["pkixPublicKey"]
    with pytest.raises(MalformedRequest, match=r"spec\.pkixPublicKey"):
        pcr.parse(obj)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (None, "<unknown>/<unknown>: metadata:"),
        ({"name": "req-x"}, "<unknown>/req-x: metadata.namespace:"),
        ({"namespace": "ns1"}, "ns1/<unknown>: metadata.name:"),
        ({"namespace": "ns1", "name": 3}, "ns1/<unknown>: metadata.name:"),
    ],
)
def test_objects_without_a_name_still_say_what_they_can(
    metadata: dict[str, Any] | None, message: str
) -> None:
    obj = wf.pcr()
    obj["metadata"] = metadata
    with pytest.raises(MalformedRequest, match=message):
        pcr.parse(obj)


def test_malformed_request_is_a_value_error() -> None:
    assert issubclass(MalformedRequest, ValueError)
    error = MalformedRequest("ns/n", "spec.podName", "missing")
    assert (error.key, error.field, error.problem) == ("ns/n", "spec.podName", "missing")


# Found by the fuzz targets (tests/unit/signers/test_fuzz_pcr_versions.py): both escaped `read`.
@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("spec.maxExpirationSeconds", 10**5000, "spec.maxExpirationSeconds"),
        ("spec.podName", 10**5000, "spec.podName"),
        ("metadata.uid", -(10**5000), "metadata.uid"),
        ("metadata.creationTimestamp", "0001-01-01T00:00:00+01:00", "creationTimestamp"),
        ("apiVersion.", 10**5000, "apiVersion: unsupported int <16610-bit number>"),
        ("metadata.namespace", 10**5000, "<unknown>/req-abc12: metadata.namespace"),
    ],
    ids=[
        "huge-int",
        "huge-int-for-a-string",
        "huge-negative-int",
        "before-year-1-in-utc",
        "huge-int-api-version",
        "huge-int-namespace",
    ],
)
def test_values_that_cannot_be_shown_or_converted_are_malformed(
    path: str, value: Any, field: str
) -> None:
    obj = wf.pcr()
    parent, _, leaf = path.partition(".")
    if leaf:
        obj[parent][leaf] = value
    else:
        obj[parent] = value
    with pytest.raises(MalformedRequest, match=field):
        pcr.parse(obj)
    entry = pcr.read(obj)
    assert isinstance(entry, Unreadable)
    assert field in entry.error


# Found by tests/unit/api/test_fuzz_keys.py: x509.InvalidVersion (not a ValueError) escaped.
def test_a_stub_with_an_unknown_csr_version_is_a_key_error() -> None:
    der = wf.stub_csr_der(wf.private_key(KeyType.ECDSAP256))
    at = der.index(b"\x02\x01\x00")  # CertificationRequestInfo.version, v1 (0)
    stub = wf.b64(der[:at] + b"\x02\x01\x40" + der[at + 3 :])
    request = pcr.parse(wf.pcr(stubPKCS10Request=stub))
    assert request.public_key is None
    assert "not a valid CSR version" in (request.key_error or "")
    assert isinstance(pcr.read(wf.pcr(stubPKCS10Request=stub)), PodCertRequest)
