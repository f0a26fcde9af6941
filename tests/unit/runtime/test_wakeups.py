"""The wake-up index: keys registered under dependencies, replaced, released, never leaked."""

from __future__ import annotations

from meshtool.runtime.wakeups import Wakeups


def test_a_change_wakes_exactly_the_keys_waiting_on_it() -> None:
    index: Wakeups[str, str] = Wakeups()
    index.wait("ns/a", ["svc:ns", "pod:ns/p1"])
    index.wait("ns/b", ["svc:ns"])
    assert sorted(index.waiting_on("svc:ns")) == ["ns/a", "ns/b"]
    assert index.waiting_on("pod:ns/p1") == ["ns/a"]
    assert index.waiting_on("svc:other") == []


def test_a_new_wait_replaces_the_old_dependencies() -> None:
    index: Wakeups[str, str] = Wakeups()
    index.wait("ns/a", ["svc:ns", "pod:ns/p1"])
    index.wait("ns/a", ["pod:ns/p2"])
    assert index.waiting_on("svc:ns") == [] and index.waiting_on("pod:ns/p1") == []
    assert index.waiting_on("pod:ns/p2") == ["ns/a"]
    assert len(index) == 1


def test_release_and_an_empty_wait_forget_the_key_everywhere() -> None:
    index: Wakeups[str, str] = Wakeups()
    index.wait("ns/a", ["svc:ns"])
    index.wait("ns/b", ["svc:ns"])
    index.release("ns/a")
    index.wait("ns/b", [])
    index.release("ns/never-waited")
    assert index.waiting_on("svc:ns") == [] and len(index) == 0
    assert index._by_dependency == {}  # no empty entries kept
