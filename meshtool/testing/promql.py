"""Metric names in PromQL expressions and in a `/metrics` exposition, to compare the two.

The dashboards and alerts in charts/meshtool/files/ must only name metrics the controller
exports; a test scrapes a running controller and compares. We do not parse PromQL fully, we
tokenize the way a reader does: string literals, label matchers (`{...}`), ranges and subqueries
(`[...]`) and Grafana variables (`$x`, `${x}`) are dropped, and so are the label lists after
`by`, `without`, `on`, `ignoring`, `group_left` and `group_right`. Of the identifiers left, one
followed by `(` is a function or aggregation, a few are keywords (`and`, `bool`, `offset`...),
and every other one is a metric name. Grafana's `label_values(metric, label)` names one metric.

On the exposition side a family's `# TYPE` line counts even before it has a sample (a labelled
counter nothing has incremented yet), and a histogram's family stands for its `_bucket`, `_sum`
and `_count` series, a summary's for `_sum` and `_count`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2", "group_left", "group_right"}
)
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_LABEL_VALUES = re.compile(r"label_values\(\s*([^,()]*?)\s*,\s*\w+\s*\)")
_BRACES = re.compile(r"\{[^{}]*\}|\[[^\[\]]*\]")
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?")
MONITORING = Path("charts/meshtool/files")


def alert_rules(root: Path) -> list[dict[str, Any]]:
    """The rules of alerts.yaml under the repository `root`, all groups in order."""
    rules = yaml.safe_load((root / MONITORING / "alerts.yaml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def dashboard(root: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((root / MONITORING / "dashboard.json").read_text())
    return loaded


def monitoring_expressions(root: Path) -> dict[str, str]:
    """Every PromQL expression of the alerts and the dashboard, keyed by where it is."""
    found = {f"alert {rule['alert']}": str(rule["expr"]) for rule in alert_rules(root)}
    board = dashboard(root)
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            found[f"panel {panel['title']!r} {target['refId']}"] = target["expr"]
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            found[f"variable {variable['name']}"] = query["query"]
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` reads (see the module docstring for the rules)."""
    text = _VARIABLE.sub(" ", _STRING.sub('""', expr))
    text = _LABEL_VALUES.sub(r"\1", text)
    text = _BRACES.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.groups()
        if call is None and name.lower() not in KEYWORDS:
            names.add(name)
    return names


def exported_names(exposition: str) -> set[str]:
    """Every series name a Prometheus text exposition declares or carries."""
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split(maxsplit=3)
            names.update(family + suffix for suffix in SUFFIXES.get(kind, ("",)))
    return names | sampled_names(exposition)


def sampled_names(exposition: str) -> set[str]:
    """The series names that have at least one sample (not just a `# TYPE` line)."""
    lines = (line for line in exposition.splitlines() if line and not line.startswith("#"))
    return {re.split(r"[{\s]", line, maxsplit=1)[0] for line in lines}
