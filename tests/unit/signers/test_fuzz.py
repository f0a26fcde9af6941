"""Whatever arrives from the API, parsing plus deciding ends in MalformedRequest or a decision.

Garbage keys must become denials; arbitrary JSON in any field must become MalformedRequest or a
request some signer can decide on. No other exception may escape: in the controller it would
turn one bad object into an endless retry loop.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from meshtool.api import MalformedRequest, decisions, pcr
from meshtool.api.types import KeyType, PodView, ServiceView
from meshtool.clock import FakeClock
from meshtool.pki import capool
from meshtool.signers.base import Signer
from meshtool.signers.podidentity import PodIdentitySigner
from meshtool.signers.servicedns import ServiceDnsSigner
from meshtool.signers.spiffe import SpiffeSigner
from meshtool.testing import pcrforms

from . import requests
from .conftest import T0, FakeView

T = requests.TARGET
SIGNERS: list[Signer] = [ServiceDnsSigner(), SpiffeSigner(), PodIdentitySigner()]
CLOCK = FakeClock(T0)
POOL = capool.new_pool(ca_id="fuzz", name="fuzz", clock=CLOCK)
VIEW = FakeView(
    [PodView(T.namespace, T.pod_name, T.pod_uid, {"app": "web"}, "web", "node-1")],
    [ServiceView(T.namespace, "web", "ClusterIP", {"app": "web"})],
)
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
PATHS = [
    "apiVersion",
    "kind",
    "metadata",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.resourceVersion",
    "metadata.creationTimestamp",
    "spec",
    *(
        f"spec.{f}"
        for f in (
            "signerName",
            "podName",
            "podUID",
            "serviceAccountName",
            "serviceAccountUID",
            "nodeName",
            "nodeUID",
            "maxExpirationSeconds",
            "stubPKCS10Request",
            "pkixPublicKey",
            "proofOfPossession",
            "unverifiedUserAnnotations",
        )
    ),
    "status",
    "status.conditions",
]
_DELETE = object()
DECISIONS = (decisions.Issued, decisions.Denied, decisions.Failed, decisions.NotYet)


def _decide_all(obj: dict[str, Any]) -> list[decisions.Decision]:
    """Parse and ask every signer; MalformedRequest is an accepted outcome (returns [])."""
    try:
        request = pcr.parse(obj)
    except MalformedRequest as exc:
        assert str(exc).startswith("PodCertificateRequest ")
        return []
    return [s.decide(request, view=VIEW, pool=POOL, clock=CLOCK) for s in SIGNERS]


def _base(source: str) -> dict[str, Any]:
    return requests.body(signer_name="row-major.net/spiffe", source=source)


@FUZZ
@given(st.sampled_from(list(requests.FORMS)), st.binary(max_size=400))
def test_random_key_bytes_are_denied(source: str, data: bytes) -> None:
    obj = _base(source)
    field = "stubPKCS10Request" if source == "stub" else "pkixPublicKey"
    obj["spec"][field] = base64.b64encode(data).decode()
    for decision in _decide_all(obj):
        assert isinstance(decision, decisions.Denied)
        assert decision.reason in (decisions.INVALID_REQUEST, decisions.UNSUPPORTED_KEY_TYPE)


@FUZZ
@given(
    st.sampled_from(list(requests.FORMS)),
    st.sampled_from(list(KeyType)),
    st.integers(min_value=0, max_value=1200),
    st.binary(max_size=4),
)
def test_truncated_keys_are_denied(source: str, key_type: KeyType, cut: int, tail: bytes) -> None:
    key = requests.private_key(key_type)
    if source == "stub":
        field, der = "stubPKCS10Request", pcrforms.stub_csr(key)
    else:
        field, der = "pkixPublicKey", pcrforms.public_key_der(key)
    if cut >= len(der) and not tail:
        cut = len(der) - 1
    damaged = der[:cut] + tail
    # Truncation changes the length. A tail that restores it is a byte substitution, which can
    # leave a well-formed CSR (only its signature changed, which the apiserver checks, not us).
    assume(len(damaged) != len(der))
    obj = _base(source)
    obj["spec"][field] = base64.b64encode(damaged).decode()
    for decision in _decide_all(obj):
        # Appending bytes after a complete DER structure is refused by the DER parser too.
        assert isinstance(decision, decisions.Denied), decision


def _set(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    target: Any = obj
    for part in parents:
        if not isinstance(target, dict):
            return
        target = target.setdefault(part, {})
    if not isinstance(target, dict):
        return
    if value is _DELETE:
        target.pop(leaf, None)
    else:
        target[leaf] = value


@FUZZ
@given(
    st.sampled_from(list(requests.FORMS)),
    st.lists(
        st.tuples(st.sampled_from(PATHS), json_values | st.just(_DELETE)), min_size=1, max_size=4
    ),
)
def test_random_json_in_any_field(source: str, changes: list[tuple[str, Any]]) -> None:
    obj = copy.deepcopy(_base(source))
    for path, value in changes:
        _set(obj, path, value)
    decided = _decide_all(obj)
    assert all(isinstance(d, DECISIONS) for d in decided)


@FUZZ
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_random_objects(obj: dict[str, Any]) -> None:
    assert all(isinstance(d, DECISIONS) for d in _decide_all(obj))
