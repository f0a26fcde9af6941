"""Which ClusterTrustBundles a projected `clusterTrustBundle` source selects, and what it writes.

A source names one bundle (`name`) or a signer plus a label selector (`signerName` +
`labelSelector`); the two are mutually exclusive. The selector follows the kubelet's code, not
the kubernetes.io prose: an **unset** selector matches nothing, an empty `{}` matches every
bundle of the signer. `matchLabels` and `matchExpressions` (In, NotIn, Exists, DoesNotExist) are
ANDed; NotIn and DoesNotExist match objects that lack the key, as in apimachinery.

The file content is every certificate of every selected bundle, de-duplicated by DER and
re-encoded as header-free CERTIFICATE blocks. The kubelet shuffles that list (stable per kubelet
process); we keep first-seen order over bundles sorted by name so tests are deterministic. When
nothing is selected the source blocks the volume (`None`) unless it is `optional`, which yields an
empty file. Pure functions only: the simulator feeds them its CTB cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from meshtool.pki import pem
from meshtool.testing import volumes

JSON = Mapping[str, Any]


def selector_matches(selector: JSON | None, labels: Mapping[str, str]) -> bool:
    """Whether a metav1.LabelSelector matches `labels`; None matches nothing."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression_matches(e, labels) for e in selector.get("matchExpressions") or [])


def _expression_matches(expression: JSON, labels: Mapping[str, str]) -> bool:
    key, operator = expression["key"], expression["operator"]
    values = expression.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    raise ValueError(f"unsupported label selector operator {operator!r}")


def selected(source: JSON, bundles: Iterable[JSON]) -> list[JSON]:
    """The bundles a `clusterTrustBundle` source selects, sorted by name."""
    ordered = sorted(bundles, key=lambda b: str(b["metadata"]["name"]))
    if name := source.get("name"):
        return [b for b in ordered if b["metadata"]["name"] == name]
    signer = source.get("signerName")
    if not signer:
        return []
    selector = source.get("labelSelector")
    return [
        b
        for b in ordered
        if b.get("spec", {}).get("signerName") == signer
        and selector_matches(selector, b["metadata"].get("labels") or {})
    ]


def merged(bundles: Iterable[JSON]) -> bytes:
    """All certificates of `bundles`, de-duplicated by DER, as CERTIFICATE blocks."""
    seen: dict[bytes, None] = {}
    for bundle in bundles:
        text = str(bundle.get("spec", {}).get("trustBundle", "")).encode()
        for block in pem.blocks(text):
            seen.setdefault(block.der, None)
    return b"".join(volumes.certificate_pem(der) for der in seen)


def render(source: JSON, bundles: Iterable[JSON]) -> bytes | None:
    """The file content for one source; None when it selects nothing and is not optional."""
    chosen = selected(source, bundles)
    if chosen:
        return merged(chosen)
    return b"" if source.get("optional") else None
