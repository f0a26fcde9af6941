"""The shipped alerts and dashboard (charts/meshtool/files/): complete, linked, well formed.

Whether their metric names exist is checked against a running controller
(tests/integration/controller/test_monitoring_metrics.py); whether Prometheus accepts the rules
and fires them, by promtool (tests/integration/monitoring/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from meshtool.testing import promql

ROOT = Path(__file__).resolve().parents[2]
RULES = promql.alert_rules(ROOT)
BOARD = promql.dashboard(ROOT)
REQUIRED = {
    "MeshtoolCAExpired",
    "MeshtoolCAExpiresSoon",
    "MeshtoolCAExpiringWithoutSuccessor",
    "MeshtoolCARotationStuck",
    "MeshtoolOldestPendingRequestTooOld",
    "MeshtoolHighDenialRate",
    "MeshtoolReconcileErrors",
    "MeshtoolTrustBundlePublishErrors",
    "MeshtoolControllerNotReady",
    "MeshtoolNoReplicaReady",
}


def readme_anchors() -> set[str]:
    headings = re.findall(r"^#+ (.+)$", (ROOT / "README.md").read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_the_alerts_the_issue_asks_for_are_there_once():
    names = [rule["alert"] for rule in RULES]
    assert len(names) == len(set(names))
    assert set(names) >= REQUIRED


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule["alert"])
def test_every_alert_waits_has_a_severity_and_a_runbook(rule):
    assert re.fullmatch(r"\d+[smh]", rule["for"])
    assert rule["labels"]["severity"] in {"warning", "critical"}
    notes = rule["annotations"]
    assert notes["summary"] and notes["description"]
    page, _, anchor = notes["runbook_url"].partition("#")
    assert page == "README.md" and anchor in readme_anchors(), notes["runbook_url"]


def test_every_alert_is_listed_in_the_readme_monitoring_section():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Monitoring", 1)[1].split("\n## ", 1)[0]
    assert [r["alert"] for r in RULES if f"`{r['alert']}`" not in section] == []


def test_dashboard_shows_what_the_issue_asks_for():
    shown = set().union(
        *(promql.metric_names(t["expr"]) for p in BOARD["panels"] for t in p.get("targets", []))
    )
    assert shown >= {
        f"meshtool_{name}"
        for name in (
            "issued_total",
            "denied_total",
            "issuance_latency_seconds_bucket",
            "pending_requests",
            "oldest_pending_request_age_seconds",
            "ca_not_after_timestamp_seconds",
            "ca_role",
            "ca_rotation_next_step_seconds",
            "workqueue_depth",
            "trust_bundle_publish_errors_total",
            "ready",
            "live_replicas",
        )
    }


def test_dashboard_panels_query_the_chosen_data_source():
    variables = {v["name"]: v for v in BOARD["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    panels = [p for p in BOARD["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in BOARD["panels"]}) == len(BOARD["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and all(t["expr"] for t in panel["targets"]), panel["title"]


def test_dashboard_panels_do_not_overlap():
    taken: set[tuple[int, int]] = set()
    for panel in BOARD["panels"]:
        g = panel["gridPos"]
        cells = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert g["x"] + g["w"] <= 24 and not cells & taken, panel["title"]
        taken |= cells
