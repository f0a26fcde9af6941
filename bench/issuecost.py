"""CPU per leaf, in process: issuance and the pre-write check, without an apiserver.

Run with `python bench/issuecost.py`. It builds the benchmark's CA (Ed25519) and a v1 request
with a fresh ECDSA P-256 key, then times, best of 9 rounds of 500 calls (the best round is the
one the neighbours disturbed least):
- `issue_leaf` for a SPIFFE-style profile with the caIssuers extension, as the spiffe signer
  issues;
- the controller's pre-write check (`issued_decision_problems`) on that leaf's status, and the
  full check the tests use (`issued_status_problems`), each on a certificate object never
  looked at before (the first includes reading the leaf's DER back, a little more than the
  controller pays);
- the status body and its JSON encoding.

The last line is machine-readable: `issuecost: issue_us=<n> check_us=<n> full_check_us=<n>
body_us=<n>`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import timeit
import uuid
from collections.abc import Callable

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from meshtool.api import decisions, pcr, status, types, validation
from meshtool.clock import SystemClock
from meshtool.pki import capool, issue
from meshtool.testing import pcrforms

ROUNDS, CALLS = 9, 500
AIA = x509.AuthorityInformationAccess(
    [
        x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS,
            x509.UniformResourceIdentifier("https://issuer.example/anchors.p7c"),
        )
    ]
)
PROFILE = issue.LeafProfile(
    uris=("spiffe://cluster.local/ns/bench/sa/workload",),
    extended_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
    extra_extensions=((AIA, False),),
)


def best_us(call: Callable[[], object]) -> float:
    return min(timeit.repeat(call, number=CALLS, repeat=ROUNDS)) / CALLS * 1e6


def request() -> types.PodCertRequest:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    target = pcrforms.PodTarget("bench", "pod-1", ids[0], "workload", ids[1], "node-1", ids[2])
    body = pcrforms.pcr_body(
        pcrforms.default_form("v1"),
        target,
        version="v1",
        signer_name="row-major.net/spiffe",
        key=pcrforms.generate_key(types.KeyType.ECDSAP256),
    )
    meta = {"name": "pcr-1", "resourceVersion": "1", "uid": ids[0]}
    body["metadata"] = {**body["metadata"], **meta}
    return pcr.parse(body)


def fresh_check(
    decision: decisions.Issued, body: status.StatusBody, req: types.PodCertRequest, now: dt.datetime
) -> list[str]:
    """The pre-write check on a leaf never looked at before, as in the controller (a parsed
    certificate remembers its extensions and key: checking one object twice would flatter)."""
    assert decision.leaf is not None
    leaf = x509.load_der_x509_certificate(decision.leaf.public_bytes(serialization.Encoding.DER))
    fresh = dataclasses.replace(decision, leaf=leaf)
    return validation.issued_decision_problems(fresh, body, request=req, now=now)


def main() -> None:
    clock = SystemClock()
    pool = capool.new_pool(ca_id="1", name="row-major.net/spiffe", clock=clock)
    req = request()
    assert req.public_key is not None

    def sign() -> issue.IssuedLeaf | issue.CannotIssue:
        return issue.issue_leaf(
            public_key=req.public_key,  # type: ignore[arg-type]
            profile=PROFILE,
            max_expiration_seconds=req.max_expiration_seconds,
            ca=pool.signing_ca,
            clock=clock,
        )

    leaf = sign()
    assert isinstance(leaf, issue.IssuedLeaf)
    decision = decisions.Issued(
        leaf.chain_pem,
        leaf.not_before,
        leaf.not_after,
        leaf.begin_refresh_at,
        leaf=leaf.certificate,
    )
    body = status.status_body(decision, clock=clock)
    now = clock.now()
    assert validation.issued_decision_problems(decision, body, request=req, now=now) == []
    figures = {
        "issue_us": best_us(sign),
        "check_us": best_us(lambda: fresh_check(decision, body, req, now)),
        "full_check_us": best_us(
            lambda: validation.issued_status_problems(body, request=req, now=now)
        ),
        "body_us": best_us(
            lambda: msgspec.json.encode(
                status.status_update(req, status.status_body(decision, clock=clock))
            )
        ),
    }
    names = {
        "issue_us": "issue_leaf",
        "check_us": "pre-write check (from the decision)",
        "full_check_us": "full check (the tests' oracle)",
        "body_us": "status body + JSON",
    }
    for key, value in figures.items():
        print(f"  {names[key]:38s} {value:7.1f} us")
    print("issuecost: " + " ".join(f"{k}={v:.1f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
