"""The informer transforms keep what a signer reads and never raise on an odd object."""

from __future__ import annotations

from meshtool.api import objects
from meshtool.api.types import PodView, ServiceView


def test_defaults_are_the_apiservers() -> None:
    pod = objects.pod_view({"metadata": {"namespace": "ns", "name": "p"}, "spec": {}})
    assert pod == PodView("ns", "p", "", {}, "default", "")
    svc = objects.service_view({"metadata": {"name": "s"}, "spec": {"clusterIP": "None"}})
    assert svc == ServiceView("", "s", "ClusterIP", None, headless=True)


# Found by tests/unit/api/test_fuzz_objects.py: str() of such an int raises ValueError.
def test_a_number_too_long_for_str_becomes_empty() -> None:
    huge = 10**5000
    pod = objects.pod_view({"metadata": {"name": huge, "labels": {"a": huge}}, "spec": {}})
    assert (pod.name, dict(pod.labels)) == ("", {"a": ""})
    assert objects.node_view({"metadata": {"uid": huge, "name": "n"}}).uid == ""
