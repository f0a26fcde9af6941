"""The controller's metrics: names and label sets are bounded, readiness is read at scrape time."""

from __future__ import annotations

from prometheus_client import generate_latest

from meshtool.controllers.metrics import Metrics


def test_ready_follows_the_readiness_problems_at_scrape_time():
    metrics = Metrics()
    problems = ["informer caches are not synced yet"]
    metrics.watch_readiness(lambda: problems)
    assert metrics.registry.get_sample_value("meshtool_ready") == 0.0
    problems.clear()
    assert metrics.registry.get_sample_value("meshtool_ready") == 1.0
    problems.append("CA pool for row-major.net/spiffe: expired")
    assert metrics.registry.get_sample_value("meshtool_ready") == 0.0


def test_labelled_families_are_declared_before_any_sample():
    """Dashboards and alerts may name a labelled metric nothing has touched yet: its HELP and
    TYPE lines are served from the start, so a scrape shows it exists."""
    text = generate_latest(Metrics().registry).decode()
    for family in ("meshtool_denied_total", "meshtool_trust_bundle_publish_errors_total"):
        assert f"# TYPE {family} counter" in text
        assert f"\n{family}{{" not in text
    assert "# TYPE meshtool_issuance_latency_seconds histogram" in text
