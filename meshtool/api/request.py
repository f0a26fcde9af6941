"""The version-independent part of reading a PodCertificateRequest.

Every served version shares metadata, the identity fields of the spec (signer, pod, service
account, node), `maxExpirationSeconds` and the status conditions. A version module only says
how to find the key and whether `unverifiedUserAnnotations` exists, by passing `read_key` and
`annotations` to `parse`.

Strictness: a required field that is missing, null, empty or of the wrong type raises
`MalformedRequest` naming the object and the field. Optional fields may be absent or null.
The status is not read here: `terminal_condition` is the one rule for whether a request is
answered, and `meshtool.api.pcr.read` applies it before parsing.

The terminal rule is kube-apiserver's: a status holds at most one condition, of type Issued,
Denied or Failed, with status "True" (it refuses "False", "Unknown", other types and
duplicates; `tests/integration/test_status_rules.py` writes each to a real apiserver). So a
request is answered exactly when such a condition is present.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from meshtool.api import keys, wire
from meshtool.api.errors import MalformedRequest
from meshtool.api.types import PodCertRequest, Terminal

_TERMINALS = {t.value: t for t in Terminal}
_INT32 = -(2**31)


@dataclass(frozen=True, slots=True)
class Spec:
    """The spec of one request, with typed accessors that name the object on failure."""

    key: str
    fields: Mapping[str, object]

    def fail(self, field: str, problem: str) -> MalformedRequest:
        return MalformedRequest(self.key, f"spec.{field}", problem)

    def string(self, field: str) -> str:
        value = self.fields.get(field)
        if not isinstance(value, str) or not value:
            raise self.fail(field, f"want a non-empty string, got {show(value)}")
        return value

    def optional_string(self, field: str) -> str | None:
        """None when absent, null or empty (the JSON form of an empty byte field)."""
        value = self.fields.get(field)
        if value is None or isinstance(value, str):
            return value or None
        raise self.fail(field, f"want a string or null, got {show(value)}")

    def integer(self, field: str, default: int) -> int:
        value = self.fields.get(field)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not _INT32 <= value < -_INT32:
            raise self.fail(field, f"want a 32-bit integer, got {show(value)}")
        return value

    def string_map(self, field: str) -> dict[str, str]:
        value = self.fields.get(field)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(field, f"want a map of strings, got {show(value)}")
        for k, v in value.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise self.fail(field, f"want a map of strings, got {show(k)}: {show(v)}")
        return dict(value)


KeyReader = Callable[[Spec], keys.KeyInfo]


def parse(
    obj: Mapping[str, object], *, api_version: str, read_key: KeyReader, annotations: bool
) -> PodCertRequest:
    meta = _mapping(obj, "metadata", "<unknown>/<unknown>")
    key = _object_key(meta)
    spec = Spec(key, _mapping(obj, "spec", key))
    key_info = read_key(spec)
    namespace, _, name = key.partition("/")
    return PodCertRequest(
        namespace=namespace,
        name=name,
        uid=_meta_string(meta, "uid", key),
        resource_version=_meta_string(meta, "resourceVersion", key),
        api_version=api_version,
        signer_name=spec.string("signerName"),
        pod_name=spec.string("podName"),
        pod_uid=spec.string("podUID"),
        service_account_name=spec.string("serviceAccountName"),
        service_account_uid=spec.string("serviceAccountUID"),
        node_name=spec.string("nodeName"),
        node_uid=spec.string("nodeUID"),
        max_expiration_seconds=spec.integer(
            "maxExpirationSeconds", wire.DEFAULT_MAX_EXPIRATION_SECONDS
        ),
        key_source=key_info.source,
        public_key=key_info.public_key,
        key_type=key_info.key_type,
        key_error=key_info.error,
        user_annotations=spec.string_map("unverifiedUserAnnotations") if annotations else {},
        created_at=_created_at(meta, key),
    )


def _mapping(obj: Mapping[str, object], field: str, key: str) -> Mapping[str, object]:
    value = obj.get(field)
    if not isinstance(value, Mapping):
        raise MalformedRequest(key, field, f"want an object, got {show(value)}")
    return value


def _object_key(meta: Mapping[str, object]) -> str:
    namespace, name = meta.get("namespace"), meta.get("name")
    ns_ok = isinstance(namespace, str) and namespace
    name_ok = isinstance(name, str) and name
    key = f"{namespace if ns_ok else '<unknown>'}/{name if name_ok else '<unknown>'}"
    if not ns_ok:
        raise MalformedRequest(key, "metadata.namespace", f"want a name, got {show(namespace)}")
    if not name_ok:
        raise MalformedRequest(key, "metadata.name", f"want a name, got {show(name)}")
    return key


def _meta_string(meta: Mapping[str, object], field: str, key: str) -> str:
    value = meta.get(field, "")
    if not isinstance(value, str):
        raise MalformedRequest(key, f"metadata.{field}", f"want a string, got {show(value)}")
    return value


def created_at(obj: Mapping[str, object]) -> dt.datetime | None:
    """The creation time, or None when absent or unreadable; never raises."""
    meta = obj.get("metadata")
    try:
        return _created_at(meta, "") if isinstance(meta, Mapping) else None
    except MalformedRequest:
        return None


def _created_at(meta: Mapping[str, object], key: str) -> dt.datetime | None:
    value = meta.get("creationTimestamp")
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise TypeError
        return wire.parse_time(value)
    except (TypeError, ValueError):
        problem = f"want an RFC 3339 time, got {show(value)}"
        raise MalformedRequest(key, "metadata.creationTimestamp", problem) from None


def terminal_of(obj: Mapping[str, object]) -> Terminal | None:
    """The terminal condition of a PCR object, if it has one; never raises."""
    status = obj.get("status")
    return terminal_condition(status.get("conditions")) if isinstance(status, Mapping) else None


def terminal_condition(conditions: object) -> Terminal | None:
    """The first Issued/Denied/Failed condition with status "True"; lenient about shape."""
    if not isinstance(conditions, list):
        return None
    for condition in conditions:
        if not isinstance(condition, Mapping) or condition.get("status") != "True":
            continue
        kind = condition.get("type")
        if isinstance(kind, str) and kind in _TERMINALS:
            return _TERMINALS[kind]
    return None


def show(value: object) -> str:
    """A short description of a bad value for an error message."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's 4300-digit str() limit
        text = f"<{value.bit_length() if isinstance(value, int) else '?'}-bit number>"
    shown = text if len(text) <= 40 else text[:37] + "..."
    return f"{type(value).__name__} {shown}" if value is not None else "nothing (absent or null)"
