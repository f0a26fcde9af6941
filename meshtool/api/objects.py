"""Reading the cluster objects the signers consult: pods, Services, ServiceAccounts, Nodes.

Each function is an informer transform: a raw object in, the small frozen view of
`meshtool.api.types` out, holding only what a signer reads, so caches stay small.

They are pure and tolerate odd objects: a missing or mistyped field becomes an empty value
rather than an exception, because one strange Service must never stop the informer that every
request depends on. The defaults are the API server's (a pod without `serviceAccountName` runs
as `default`; a Service without `type` is ClusterIP). A Service is headless when its
`spec.clusterIP` is the literal `None`.
"""

from __future__ import annotations

from collections.abc import Mapping

from meshtool.api import types

Raw = Mapping[str, object]


def pod_view(obj: Raw) -> types.PodView:
    meta, spec = _part(obj, "metadata"), _part(obj, "spec")
    return types.PodView(
        namespace=_str(meta, "namespace"),
        name=_str(meta, "name"),
        uid=_str(meta, "uid"),
        labels=_str_map(meta.get("labels")),
        service_account_name=_str(spec, "serviceAccountName") or "default",
        node_name=_str(spec, "nodeName"),
        hostname=_str(spec, "hostname"),
        subdomain=_str(spec, "subdomain"),
    )


def service_view(obj: Raw) -> types.ServiceView:
    meta, spec = _part(obj, "metadata"), _part(obj, "spec")
    selector = spec.get("selector")
    return types.ServiceView(
        namespace=_str(meta, "namespace"),
        name=_str(meta, "name"),
        type=_str(spec, "type") or "ClusterIP",
        selector=_str_map(selector) if isinstance(selector, Mapping) else None,
        headless=_str(spec, "clusterIP") == "None",
    )


def service_account_view(obj: Raw) -> types.ServiceAccountView:
    meta = _part(obj, "metadata")
    return types.ServiceAccountView(
        namespace=_str(meta, "namespace"), name=_str(meta, "name"), uid=_str(meta, "uid")
    )


def node_view(obj: Raw) -> types.NodeView:
    meta = _part(obj, "metadata")
    return types.NodeView(name=_str(meta, "name"), uid=_str(meta, "uid"))


def _part(obj: Raw, field: str) -> Raw:
    value = obj.get(field)
    return value if isinstance(value, Mapping) else {}


def _str(fields: Raw, name: str) -> str:
    return _text(fields.get(name))


def _str_map(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {_text(k): _text(v) for k, v in value.items()}


def _text(value: object) -> str:
    if value is None:
        return ""
    try:
        return str(value)
    except ValueError:  # an int past Python's 4300-digit str() limit
        return ""
