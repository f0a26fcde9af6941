"""Decoding kube-apiserver's answers: JSON objects, list pages, watch lines, error Statuses.

Pure functions over bytes and strings, so `meshtool.kube.client` keeps only the HTTP exchange.
Objects and watch lines are decoded with msgspec (C code: the watch stream is the hot path).
Every malformed answer becomes `errors.TransportError` naming the request; every HTTP error
answer becomes the most specific `errors.ApiError`, carrying the Status body when there is
one and the first bytes of the text otherwise.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

import msgspec

from meshtool.kube import errors
from meshtool.kube.resources import Resource

JSON = dict[str, Any]
_decode_object = msgspec.json.Decoder(dict[str, Any]).decode


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[JSON]
    resource_version: str


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str
    """ADDED, MODIFIED, DELETED or BOOKMARK (ERROR events are raised, 410 as errors.Gone)."""
    object: JSON


class _WireEvent(msgspec.Struct):
    type: str
    object: dict[str, Any]


_decode_event = msgspec.json.Decoder(_WireEvent).decode


def with_kind(
    items: builtins.list[JSON], resource: Resource, list_kind: str
) -> builtins.list[JSON]:
    kind = list_kind.removesuffix("List")
    for item in items:
        item.setdefault("apiVersion", resource.api_version)
        if kind:
            item.setdefault("kind", kind)
    return items


def decode(content: bytes, what: str) -> JSON:
    if not content:
        return {}
    try:
        return _decode_object(content)
    except msgspec.DecodeError as exc:
        raise errors.TransportError(f"{what}: response is not a JSON object: {exc}") from exc


def api_error(code: int, content: bytes, what: str) -> errors.ApiError:
    try:
        status: JSON | None = _decode_object(content)
    except msgspec.DecodeError:
        text = content[:200].decode("utf-8", "replace").strip()
        status = {"message": text} if text else None
    return errors.from_status(code, status, what=what)


def watch_event(line: str | bytes, what: str) -> WatchEvent:
    try:
        event = _decode_event(line)
    except msgspec.DecodeError as exc:
        raise errors.TransportError(f"{what}: malformed watch event: {exc}") from exc
    if event.type == "ERROR":
        code = int(event.object.get("code") or 500)
        raise errors.from_status(code, event.object, what=what)
    return WatchEvent(event.type, event.object)
