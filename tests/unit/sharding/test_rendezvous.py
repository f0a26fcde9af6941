import itertools
from collections import Counter

import pytest

from meshtool.sharding import rendezvous
from meshtool.sharding.rendezvous import ReplicaId

REPLICAS = [ReplicaId("meshtool-0"), ReplicaId("meshtool-1"), ReplicaId("meshtool-2")]
KEYS = [f"ns-{n % 37}/pcr-{n}" for n in range(10_000)]


def owners(replicas: list[ReplicaId]) -> dict[str, ReplicaId | None]:
    return {key: rendezvous.owner(key, replicas) for key in KEYS}


# Pinned so every replica, on any machine or Python version, keeps agreeing: changing the hash is
# a breaking change for a mixed-version rollout.
@pytest.mark.parametrize(
    ("replica", "key", "expected"),
    [
        ("meshtool-0", "default/pod-a", 15049733512487739127),
        ("meshtool-1", "kube-system/coredns-abc", 4872640219341240034),
        ("", "", 10734006239897485896),
    ],
)
def test_score_is_pinned(replica: str, key: str, expected: int) -> None:
    assert rendezvous.score(replica, key) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("default/pcr-1", "meshtool-1"),
        ("default/pcr-3", "meshtool-2"),
        ("trust-bundles", "meshtool-1"),
    ],
)
def test_owner_is_pinned(key: str, expected: str) -> None:
    assert rendezvous.owner(key, REPLICAS) == expected


def test_score_is_blake2b_of_replica_nul_key() -> None:
    assert rendezvous.score("meshtool-0", "default/pod-a") == 0xD0DB64E4881F9EF7


def test_the_separator_keeps_concatenations_apart() -> None:
    assert rendezvous.score("ab", "c") != rendezvous.score("a", "bc")


def test_no_replicas_means_no_owner() -> None:
    assert rendezvous.owner("default/pcr-1", []) is None
    assert rendezvous.owned(["default/pcr-1"], "meshtool-0", []) == []


def test_a_single_replica_owns_everything() -> None:
    assert {rendezvous.owner(key, ["solo"]) for key in KEYS[:100]} == {"solo"}


def test_the_owner_does_not_depend_on_replica_order() -> None:
    expected = owners(REPLICAS)
    for order in itertools.permutations(REPLICAS):
        assert {key: rendezvous.owner(key, order) for key in KEYS[:500]} == {
            key: expected[key] for key in KEYS[:500]
        }
    assert rendezvous.owner(KEYS[0], set(REPLICAS)) == expected[KEYS[0]]


def test_keys_spread_evenly_over_three_replicas() -> None:
    counts = Counter(owners(REPLICAS).values())
    third = len(KEYS) / 3
    for replica in REPLICAS:
        assert abs(counts[replica] - third) <= 0.05 * third, counts


def test_only_the_leaving_replicas_keys_move() -> None:
    before = owners(REPLICAS)
    after = owners(REPLICAS[:2])
    moved = {key for key in KEYS if before[key] != after[key]}
    assert moved == {key for key in KEYS if before[key] == "meshtool-2"}


def test_only_keys_won_by_the_joining_replica_move() -> None:
    before = owners(REPLICAS)
    after = owners([*REPLICAS, ReplicaId("meshtool-3")])
    moved = {key for key in KEYS if before[key] != after[key]}
    assert moved == {key for key in KEYS if after[key] == "meshtool-3"}
    assert abs(len(moved) - len(KEYS) / 4) <= 0.05 * len(KEYS) / 4


def test_owned_partitions_the_keys() -> None:
    parts = {replica: rendezvous.owned(KEYS, replica, REPLICAS) for replica in REPLICAS}
    assert sorted(itertools.chain.from_iterable(parts.values())) == sorted(KEYS)
    assert parts[ReplicaId("meshtool-0")] == [
        key for key in KEYS if rendezvous.owner(key, REPLICAS) == "meshtool-0"
    ]


def test_ties_go_to_the_smaller_replica_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rendezvous, "score", lambda replica, key: 42)
    assert rendezvous.owner("any", ["b", "c", "a"]) == "a"
