"""Parse a PodCertificateRequest of any served version into one `PodCertRequest`.

Dispatch is on `apiVersion`. Objects inside a list response carry no `apiVersion`, so callers
that list pass the version they listed as `default_version`; an `apiVersion` on the object
itself always wins. An unknown version is a `MalformedRequest`, like any other broken field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from meshtool.api import v1, v1alpha1, v1beta1, wire
from meshtool.api.errors import MalformedRequest
from meshtool.api.types import PodCertRequest

_PARSERS: dict[str, Callable[[Mapping[str, object]], PodCertRequest]] = {
    f"{wire.GROUP}/{v1.VERSION}": v1.parse,
    f"{wire.GROUP}/{v1beta1.VERSION}": v1beta1.parse,
    f"{wire.GROUP}/{v1alpha1.VERSION}": v1alpha1.parse,
}


def parse(obj: Mapping[str, object], *, default_version: str | None = None) -> PodCertRequest:
    """Read `obj`; raises `MalformedRequest` when it is structurally broken.

    `default_version` is a bare version such as "v1beta1", used when `obj` has no apiVersion.
    """
    api_version = obj.get("apiVersion")
    if api_version is None and default_version is not None:
        api_version = f"{wire.GROUP}/{default_version}"
    parser = _PARSERS.get(api_version) if isinstance(api_version, str) else None
    if parser is None:
        raise MalformedRequest(_key_of(obj), "apiVersion", f"unsupported {api_version!r}")
    return parser(obj)


def _key_of(obj: Mapping[str, object]) -> str:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return "<unknown>/<unknown>"
    return f"{meta.get('namespace', '<unknown>')}/{meta.get('name', '<unknown>')}"
