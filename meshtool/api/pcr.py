"""Read a PodCertificateRequest of any served version: the PCR informer's one transform.

`read` decides what the controller keeps of each object (`types.PcrEntry`):
- `Answered` when it has a terminal condition (the one rule, `request.terminal_condition`): its
  key is never needed again, and skipping the key decode halves the parsing work, since every
  status we write comes back as a watch event;
- `PodCertRequest` when it parses;
- `Unreadable` when it does not: still answerable (it will be Denied `InvalidRequest` with the
  parse error), so it keeps what a status write needs.

`parse` is the strict reading, dispatched on `apiVersion` (the client sets it on list items,
which the server sends without one). An unknown version is a `MalformedRequest`, like any other
broken field. `needs_legacy_view` says when a request read through v1 must be read again
through v1beta1 to see its key (a pre-1.36 kubelet's `pkixPublicKey`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from meshtool.api import request, v1, v1alpha1, v1beta1
from meshtool.api.errors import MalformedRequest
from meshtool.api.types import Answered, PcrEntry, PodCertRequest, Unreadable

_PARSERS: dict[str, Callable[[Mapping[str, object]], PodCertRequest]] = {
    v1.API_VERSION: v1.parse,
    v1beta1.API_VERSION: v1beta1.parse,
    v1alpha1.API_VERSION: v1alpha1.parse,
}

needs_legacy_view = v1.needs_legacy_view
LEGACY_KEY_VERSION = v1beta1.VERSION
"""The version through which a legacy request's key is visible."""


def parse(obj: Mapping[str, object]) -> PodCertRequest:
    """Read `obj`; raises `MalformedRequest` when it is structurally broken."""
    api_version = obj.get("apiVersion")
    parser = _PARSERS.get(api_version) if isinstance(api_version, str) else None
    if parser is None:
        problem = f"unsupported {request.show(api_version)}"
        raise MalformedRequest(_key_of(obj), "apiVersion", problem)
    return parser(obj)


def read(obj: Mapping[str, object]) -> PcrEntry:
    meta = _meta(obj)
    terminal = request.terminal_of(obj)
    if terminal is not None:
        return Answered(_str(meta, "namespace"), _str(meta, "name"), _signer(obj), terminal)
    try:
        return parse(obj)
    except MalformedRequest as exc:
        return _unreadable(obj, str(exc))


def _unreadable(obj: Mapping[str, object], error: str) -> Unreadable:
    meta = _meta(obj)
    api_version = obj.get("apiVersion")
    return Unreadable(
        namespace=_str(meta, "namespace"),
        name=_str(meta, "name"),
        uid=_str(meta, "uid"),
        resource_version=_str(meta, "resourceVersion"),
        api_version=api_version if isinstance(api_version, str) else "",
        signer_name=_signer(obj),
        error=error,
        created_at=request.created_at(obj),
    )


def _meta(obj: Mapping[str, object]) -> Mapping[str, object]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _str(fields: Mapping[str, object], name: str) -> str:
    value = fields.get(name)
    return value if isinstance(value, str) else ""


def _signer(obj: Mapping[str, object]) -> str:
    spec = obj.get("spec")
    return _str(spec, "signerName") if isinstance(spec, Mapping) else ""


def _key_of(obj: Mapping[str, object]) -> str:
    meta = _meta(obj)
    return f"{_str(meta, 'namespace') or '<unknown>'}/{_str(meta, 'name') or '<unknown>'}"
