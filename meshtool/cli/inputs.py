"""What `meshtool inspect` is given, read and unwrapped to the PEM or pool JSON inside.

The input is a file, or stdin for `-`. Besides the raw forms (PEM, a CA pool's JSON) it may be
Kubernetes objects as `kubectl get ... -o json|yaml` prints them: a ClusterTrustBundle (its
`spec.trustBundle` PEM), a CA pool Secret (its base64 `data.pool`), or a List of those. Each
becomes one `Part` labelled with the object's kind and name; raw input is one unlabelled part.

Detection is by shape, not by file name: input starting with `{` is JSON (an object with a
`kind`, or else a CA pool); PEM is left alone; anything else is tried as YAML documents and
used only when every document is a mapping. Problems raise `InputError` with one sentence;
the caller adds the file name.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from dataclasses import dataclass
from typing import Any

import yaml

from meshtool.pki import capool

STDIN = "-"
KINDS = "a ClusterTrustBundle, a CA pool Secret or a List of them"


class InputError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Part:
    label: str | None
    """`ClusterTrustBundle x (signer y)` or `Secret ns/name`; None for raw input."""
    data: bytes


def name(path: str) -> str:
    """How messages call the input."""
    return "stdin" if path == STDIN else path


def read(path: str) -> bytes:
    """The bytes of `path`, or of stdin for `-`; OSError as from `open`."""
    if path == STDIN:
        return sys.stdin.buffer.read()
    with open(path, "rb") as file:
        return file.read()


def parts(data: bytes) -> list[Part]:
    """The credential material in `data`: the objects' contents, or `data` itself."""
    documents = _documents(data)
    if documents is None:
        return [Part(None, data)]
    return [part for document in documents for part in _unwrap(document)]


def _documents(data: bytes) -> list[dict[str, Any]] | None:
    """The Kubernetes objects in `data`, or None when it is raw PEM or a CA pool."""
    text = data.lstrip()
    if text.startswith(b"{"):
        try:
            document = json.loads(data)
        except ValueError:
            return None  # the CA pool parser says what is wrong with it
        return [document] if isinstance(document, dict) and "kind" in document else None
    if text.startswith(b"-----BEGIN"):
        return None
    try:
        documents = [d for d in yaml.safe_load_all(data) if d is not None]
    except yaml.YAMLError:
        return None
    if documents and all(isinstance(d, dict) and "kind" in d for d in documents):
        return documents
    return None


def _unwrap(obj: dict[str, Any]) -> list[Part]:
    kind = obj.get("kind")
    if kind == "ClusterTrustBundle":
        return [_bundle(obj)]
    if kind == "Secret":
        return [_secret(obj)]
    if isinstance(kind, str) and kind.endswith("List"):
        items = obj.get("items") or []
        if not items:
            raise InputError(f"the {kind} is empty")
        return [part for item in items for part in _unwrap(item)]
    raise InputError(f"a {kind or 'object without kind'}, not {KINDS}")


def _bundle(obj: dict[str, Any]) -> Part:
    spec = obj.get("spec") or {}
    label = f"ClusterTrustBundle {_name(obj)}"
    if spec.get("signerName"):
        label += f" (signer {spec['signerName']})"
    pem_text = spec.get("trustBundle")
    if not isinstance(pem_text, str) or not pem_text.strip():
        raise InputError(f"{label} has no spec.trustBundle")
    return Part(label, pem_text.encode())


def _secret(obj: dict[str, Any]) -> Part:
    meta = obj.get("metadata") or {}
    label = f"Secret {meta.get('namespace', '?')}/{meta.get('name', '?')}"
    encoded = (obj.get("data") or {}).get(capool.SECRET_KEY)
    plain = (obj.get("stringData") or {}).get(capool.SECRET_KEY)
    if isinstance(plain, str):
        return Part(label, plain.encode())
    if not isinstance(encoded, str):
        raise InputError(f"{label} has no data key {capool.SECRET_KEY!r}: not a CA pool Secret")
    try:
        return Part(label, base64.b64decode(encoded, validate=True))
    except binascii.Error:
        raise InputError(f"{label}: data.{capool.SECRET_KEY} is not base64") from None


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))
