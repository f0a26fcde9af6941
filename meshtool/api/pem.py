"""PEM blocks, read the way Go's encoding/pem reads them and written the way Kubernetes likes.

`blocks` finds every `-----BEGIN X-----` ... `-----END X-----` block in a text, ignoring text
between blocks (as kube-apiserver and the kubelet do). A block whose body is not valid base64,
or that carries RFC 1421 headers (`Key: value` lines), is still returned, flagged, so callers
can report *which* block is wrong instead of failing on the first.

`encode` writes one block with 64-character lines and no headers, the only form the PCR and
ClusterTrustBundle validators accept without question.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

_BLOCK = re.compile(r"-----BEGIN ([^\r\n-]*)-----\r?\n(.*?)-----END \1-----", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Block:
    type: str
    der: bytes | None
    """The decoded body; None when it is not valid base64."""
    has_headers: bool = False


def blocks(text: str) -> list[Block]:
    return [_block(m.group(1), m.group(2)) for m in _BLOCK.finditer(text)]


def _block(block_type: str, body: str) -> Block:
    has_headers = False
    if ":" in body:
        head, sep, rest = body.partition("\n\n")
        has_headers = bool(sep) and ":" in head
        body = rest if has_headers else body
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return Block(block_type, None, has_headers)
    return Block(block_type, der, has_headers)


def encode(block_type: str, der: bytes) -> str:
    b64 = base64.b64encode(der).decode("ascii")
    lines = "\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
    return f"-----BEGIN {block_type}-----\n{lines}\n-----END {block_type}-----\n"
