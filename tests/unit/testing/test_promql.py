"""Metric names read from PromQL and from an exposition, as the monitoring test compares them."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from meshtool.testing import promql


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('max by (signer) (meshtool_ca_warning{reason="CAExpired"}) == 1', {"meshtool_ca_warning"}),
        (
            "histogram_quantile(0.99, sum by (signer, le) "
            '(rate(latency_seconds_bucket{signer=~"$signer"}[$__rate_interval])))',
            {"latency_seconds_bucket"},
        ),
        (
            "min by (signer, ca_id) (not_after) - time() < 14 * 86400 unless on (signer, ca_id)"
            ' max by (signer, ca_id) (role{role!="active"}) == 1',
            {"not_after", "role"},
        ),
        ("sum(rate(a_total[5m] offset 1h)) / ignoring(code) group_left b", {"a_total", "b"}),
        ("absent(ready == 1) or vector(0) and bool 1e3", {"ready"}),
        ('count(x{l="a{b}"}) by (instance) > ${threshold}', {"x"}),
        ("label_values(meshtool_ca_pool_healthy, signer)", {"meshtool_ca_pool_healthy"}),
        ("rate(c:rule:ratio[1h:5m]) > 0", {"c:rule:ratio"}),
    ],
)
def test_metric_names(expr, names):
    assert promql.metric_names(expr) == names


def exposition() -> str:
    registry = CollectorRegistry()
    Counter("touched_total", "h", ["x"], registry=registry).labels("1").inc()
    Counter("untouched_total", "h", ["x"], registry=registry)
    Histogram("latency_seconds", "h", registry=registry)
    return generate_latest(registry).decode()


def test_exported_names_include_declared_families_and_histogram_series():
    names = promql.exported_names(exposition())
    assert {"touched_total", "untouched_total", "latency_seconds_bucket"} <= names
    assert {"latency_seconds_sum", "latency_seconds_count"} <= names
    assert "latency_seconds" not in names
    assert "missing_total" not in names


def test_sampled_names_leave_out_declared_only_ones():
    sampled = promql.sampled_names(exposition())
    assert {"touched_total", "latency_seconds_bucket", "latency_seconds_count"} <= sampled
    assert "untouched_total" not in sampled
