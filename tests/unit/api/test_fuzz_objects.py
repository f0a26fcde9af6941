"""Fuzzing the informer transforms of pods, Services, ServiceAccounts and Nodes at scale.

Seeds are the bodies the harness creates (`meshtool.testing.fleet`: a pod with a
podCertificate volume, ClusterIP, headless, selector-less and ExternalName Services, a
ServiceAccount, a Node) with the metadata the apiserver adds. Most inputs are odd but
schema-valid (`Mutator.schema_valid`: odd unicode, huge strings, empty maps, long lists, same
JSON types); the rest are retyped as well. A transform must never raise, must return only
strings (and a string map for labels and selectors), and must keep what the apiserver sent
when it is of the right type: the name, the headless rule, the apiserver's defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from meshtool.api import objects
from meshtool.testing import fleet, fuzzing

pytestmark = pytest.mark.fuzz

NS = "fuzz"
Raw = dict[str, Any]


def _meta(body: Raw, n: int) -> Raw:
    body["metadata"].update(uid=f"uid-{n}", resourceVersion=str(n), labels={"app": "web"})
    return body


def seeds() -> list[tuple[str, Raw]]:
    source = fleet.pod_certificate_source("row-major.net/spiffe")
    pod = fleet.pod_body(NS, "web-0", node="n1", service_account="web", sources=[source])
    pod["spec"].update(hostname="web-0", subdomain="web")
    headless = fleet.service_body(NS, "db", selector={"app": "db"})
    headless["spec"]["clusterIP"] = "None"
    bodies = [
        ("pod", pod),
        ("service", fleet.service_body(NS, "web", selector={"app": "web"})),
        ("service", headless),
        ("service", fleet.service_body(NS, "ext", selector=None, type_="ExternalName")),
        ("serviceaccount", fleet.service_account_body(NS, "web")),
        ("node", fleet.node_body("n1")),
    ]
    return [(kind, _meta(body, n)) for n, (kind, body) in enumerate(bodies)]


def inputs(kind: str, total: int) -> Iterator[tuple[str, Raw]]:
    mutator = fuzzing.Mutator(fuzzing.seed() + len(kind))
    bases = [(k, body) for k, body in seeds() if k == kind]
    for _ in range(total):
        kind, body = mutator.rng.choice(bases)
        odd = mutator.schema_valid if mutator.rng.random() < 0.7 else mutator.json
        yield kind, odd(body)


def _strings(view: object) -> None:
    for name in view.__slots__:  # type: ignore[attr-defined]
        value = getattr(view, name)
        if isinstance(value, Mapping):
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        else:
            assert value is None or isinstance(value, str | bool), (name, value)


def _kept(obj: Raw, view: Any) -> None:
    meta, spec = obj.get("metadata"), obj.get("spec")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str):
        assert view.name == meta["name"]
    if isinstance(view, objects.types.ServiceView) and isinstance(spec, dict):
        assert view.headless == (spec.get("clusterIP") == "None")
        assert view.type == (spec.get("type") or "ClusterIP") or not isinstance(spec["type"], str)
    if isinstance(view, objects.types.PodView) and isinstance(spec, dict):
        assert view.service_account_name == (spec.get("serviceAccountName") or "default") or (
            not isinstance(spec["serviceAccountName"], str)
        )


TRANSFORMS: dict[str, Callable[[Raw], object]] = {
    "pod": objects.pod_view,
    "service": objects.service_view,
    "serviceaccount": objects.service_account_view,
    "node": objects.node_view,
}


def check(item: tuple[str, Raw]) -> str:
    kind, obj = item
    view = TRANSFORMS[kind](obj)
    _strings(view)
    _kept(obj, view)
    return kind


@pytest.mark.parametrize("kind", list(TRANSFORMS))
def test_odd_objects_become_views(kind: str) -> None:
    for k, body in seeds():
        assert check((k, body)) == k
    stats = fuzzing.run(f"view {kind}", inputs(kind, fuzzing.count()), check)
    assert fuzzing.problems(stats) == [], stats.failures
    assert stats.outcomes[kind] == stats.count, stats.line()
