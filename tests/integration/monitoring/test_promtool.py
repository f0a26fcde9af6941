"""The alerts under a real promtool (built from the Go module proxy by hack/promtool.sh).

`promtool check rules` must accept charts/meshtool/files/alerts.yaml, and `promtool test rules`
must see alerts_test.yaml's synthetic series fire the CA-expiry, expired-CA, pending-too-old and
readiness alerts exactly when it says, with the annotations rendered. Without Go the tests skip,
except under CI, where they fail."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from meshtool.testing import promql
from meshtool.testing.pytest_plugin import in_ci

ROOT = Path(__file__).resolve().parents[3]
ALERTS = ROOT / promql.MONITORING / "alerts.yaml"
UNIT_TESTS = Path(__file__).with_name("alerts_test.yaml")
pytestmark = pytest.mark.timeout(1200)  # a cold promtool build, when `make test` did not run it


@pytest.fixture(scope="module")
def promtool() -> Path:
    if override := os.environ.get("MESHTOOL_PROMTOOL"):
        return Path(override)
    if shutil.which("go") is None:
        if in_ci():
            pytest.fail("promtool: Go is required under CI to build it (hack/promtool.sh)")
        pytest.skip("promtool is built with Go 1.26: install Go, or run `make promtool`")
    built = subprocess.run(
        [str(ROOT / "hack/promtool.sh")], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, f"hack/promtool.sh failed:\n{built.stderr[-3000:]}"
    return Path(built.stdout.split()[-1])


def run(promtool: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [str(promtool), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_check_rules_accepts_every_alert(promtool):
    checked = run(promtool, "check", "rules", ALERTS)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(promql.alert_rules(ROOT))} rules found" in checked.stdout


def test_check_rules_refuses_a_broken_expression(promtool, tmp_path):
    broken = tmp_path / "alerts.yaml"
    broken.write_text(ALERTS.read_text().replace("max(meshtool_oldest", "max(meshtool_oldest{"))
    checked = run(promtool, "check", "rules", broken)
    assert checked.returncode != 0
    assert "MeshtoolOldestPendingRequestTooOld" in checked.stdout + checked.stderr


def test_synthetic_series_fire_the_alerts_when_expected(promtool):
    tested = run(promtool, "test", "rules", UNIT_TESTS)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_the_unit_tests_notice_a_changed_threshold(promtool, tmp_path):
    """alerts_test.yaml pins behaviour: doubling the pending threshold makes it fail."""
    (tmp_path / "alerts.yaml").write_text(
        ALERTS.read_text().replace("_age_seconds) > 600", "_age_seconds) > 1200")
    )
    tests = UNIT_TESTS.read_text().replace("../../../charts/meshtool/files/", "")
    (tmp_path / "alerts_test.yaml").write_text(tests)
    tested = run(promtool, "test", "rules", tmp_path / "alerts_test.yaml")
    assert tested.returncode != 0
    assert "MeshtoolOldestPendingRequestTooOld" in tested.stdout + tested.stderr
