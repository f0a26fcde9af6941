from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from api import wireforms as wf
from meshtool.api import decisions, pcr, status, wire
from meshtool.clock import FakeClock

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _issued() -> decisions.Issued:
    return decisions.Issued(
        chain_pem="-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        not_before=T0 - dt.timedelta(minutes=2),
        not_after=T0 + dt.timedelta(hours=24),
        begin_refresh_at=T0 + dt.timedelta(hours=12),
    )


def test_issued_body() -> None:
    clock = FakeClock(T0 + dt.timedelta(microseconds=123456))
    body = status.status_body(_issued(), clock=clock)
    assert body == {
        "conditions": [
            {
                "type": "Issued",
                "status": "True",
                "reason": "Issued",
                "message": "Certificate issued",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
        "certificateChain": _issued().chain_pem,
        "notBefore": "2025-12-31T23:58:00Z",
        "notAfter": "2026-01-02T00:00:00Z",
        "beginRefreshAt": "2026-01-01T12:00:00Z",
    }


@pytest.mark.parametrize(
    ("decision", "kind"),
    [
        (decisions.Denied(decisions.UNSUPPORTED_KEY_TYPE, "use ED25519"), "Denied"),
        (decisions.Failed("SignerBroken", "oops"), "Failed"),
    ],
)
def test_denied_and_failed_bodies_hold_one_condition_only(
    decision: decisions.Denied | decisions.Failed, kind: str
) -> None:
    body: dict[str, Any] = dict(status.status_body(decision, clock=FakeClock(T0)))
    assert body == {
        "conditions": [
            {
                "type": kind,
                "status": "True",
                "reason": decision.reason,
                "message": decision.message,
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ]
    }


def test_not_yet_has_no_body() -> None:
    with pytest.raises(TypeError, match="NotYet"):
        status.status_body(decisions.NotYet("Later", "wait"), clock=FakeClock())  # type: ignore[arg-type]


def test_long_messages_are_cut_to_the_condition_limit() -> None:
    body = status.status_body(decisions.Denied("Big", "é" * 40000), clock=FakeClock())
    message = body["conditions"][0]["message"]
    assert len(message.encode()) <= status.MAX_MESSAGE
    assert message.endswith("...")


def test_times_are_utc_whole_seconds_with_z() -> None:
    eastern = dt.timezone(dt.timedelta(hours=-5))
    t = dt.datetime(2026, 3, 4, 5, 6, 7, 999999, tzinfo=eastern)
    assert wire.format_time(t) == "2026-03-04T10:06:07Z"
    assert TIME.match(wire.format_time(t))
    with pytest.raises(ValueError, match="naive"):
        wire.format_time(dt.datetime(2026, 1, 1))


def test_parse_time() -> None:
    assert wire.parse_time("2026-01-01T00:00:00Z") == T0
    assert wire.parse_time("2026-01-01T01:00:00+01:00") == T0
    assert wire.parse_time("2026-01-01T00:00:00.5Z") == T0 + dt.timedelta(microseconds=500000)
    with pytest.raises(ValueError):
        wire.parse_time("2026-01-01T00:00:00")
    with pytest.raises(ValueError, match="out of range"):  # before year 1 in UTC (was Overflow)
        wire.parse_time("0001-01-01T00:00:00+01:00")
    assert wire.is_canonical_time("2026-01-01T00:00:00Z")
    assert not wire.is_canonical_time("2026-01-01T00:00:00.0Z")
    assert not wire.is_canonical_time("2026-1-01T00:00:00Z")


def test_status_update_names_the_object_and_its_resource_version_only() -> None:
    obj = wf.pcr()
    request = pcr.parse(obj)
    body = status.status_body(_issued(), clock=FakeClock(T0))
    update = status.status_update(request, body)
    assert update == {
        "apiVersion": obj["apiVersion"],
        "kind": "PodCertificateRequest",
        "metadata": {
            "name": obj["metadata"]["name"],
            "namespace": obj["metadata"]["namespace"],
            "uid": obj["metadata"]["uid"],
            "resourceVersion": "4711",
        },
        "status": body,
    }
    assert update["status"] is body


def test_an_event_refers_to_the_request_in_its_version() -> None:
    request = pcr.parse(wf.pcr(version="v1beta1", form="pkix"))
    assert status.reference(request) == {
        "apiVersion": "certificates.k8s.io/v1beta1",
        "kind": "PodCertificateRequest",
        "namespace": request.namespace,
        "name": request.name,
        "uid": request.uid,
    }
