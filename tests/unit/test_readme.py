"""The README documents what the code can tell a user: every reason a request is held or
Denied with, and the top-level commands stay first."""

from __future__ import annotations

import re
from pathlib import Path

from meshtool.api import decisions

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n### {title}\n")
    end = README.find("\n## ", start)
    return README[start:end]


def reasons_written_by_meshtool() -> set[str]:
    """Every reason constant the controller and signers pass to Denied or NotYet."""
    sources = "".join(p.read_text() for p in (ROOT / "meshtool").rglob("*.py"))
    used = set(re.findall(r"(?:Denied|NotYet)\(\s*(?:decisions\.)?([A-Z_]+)\b", sources))
    return {getattr(decisions, name) for name in used}


def test_the_symptom_table_names_every_denial_and_hold_reason() -> None:
    reasons = reasons_written_by_meshtool()
    assert {"UnsupportedKeyType", "IdentityMismatch", "NoMatchingService"} <= reasons
    table = section("Troubleshooting by symptom")
    missing = sorted(r for r in reasons if f"`{r}`" not in table)
    assert not missing, f"README 'Troubleshooting by symptom' lacks {missing}"


def test_the_symptom_table_covers_the_issue_symptoms() -> None:
    table = section("Troubleshooting by symptom")
    for symptom in ("ContainerCreating", "CrashLoopBackOff", "ClusterTrustBundle missing"):
        assert symptom in table
    assert "after a CA rotation" in table


def test_stuck_controller_advice_has_logs_events_and_port_forward() -> None:
    advice = section("Is the controller running?")
    assert "kubectl -n mesh-controller logs deploy/meshtool-controller" in advice
    assert "get events" in advice
    assert "port-forward deploy/meshtool-controller 8080:8080" in advice
    assert "/readyz" in advice and "/metrics" in advice


def test_no_inline_code_span_is_split_over_two_lines() -> None:
    """A span broken over two lines copies with a line break in it (the feature-gate line did)."""
    split, inside = [], False
    for line in README.splitlines():
        if line.startswith("```"):
            inside = not inside
        elif not inside and not line.startswith("|") and line.count("`") % 2:
            split.append(line)
    assert not split


def test_the_feature_gate_flags_are_whole_lines_of_a_code_block() -> None:
    lines, inside = set(), False
    for line in README.splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            lines.add(line)
    assert (
        "--feature-gates=PodCertificateRequest=true,ClusterTrustBundle=true,"
        "ClusterTrustBundleProjection=true"
    ) in lines


def test_readme_opens_with_make_demo_and_make_test() -> None:
    first_block = README.split("```sh\n", 1)[1].splitlines()
    assert first_block[0].startswith("make demo ") and first_block[1].startswith("make test ")
