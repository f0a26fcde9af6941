"""`meshtool ca` on pool files: the manual rotation, refusals, status warnings."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import pathlib
from typing import Any

import pytest
from click.testing import CliRunner

from meshtool import clock
from meshtool.cli import root
from meshtool.controllers import poolstore
from meshtool.pki import capool, lifecycle
from meshtool.pki.ca import Role


def run(*args: str) -> Any:
    close_stray_event_loop()
    return CliRunner().invoke(root, list(args))


def close_stray_event_loop() -> None:
    """As in test_capool_cli: `asyncio.run` orphans the loop looptime's hook leaves set."""
    with contextlib.suppress(RuntimeError):
        asyncio.get_event_loop_policy().get_event_loop().close()


def pool_file(tmp_path: pathlib.Path, days: int = 365, age: int = 0) -> pathlib.Path:
    path = tmp_path / "pool.json"
    made = clock.FakeClock(dt.datetime.now(dt.UTC) - dt.timedelta(days=age))
    ca = capool.generate_ca(
        ca_id="1", name="row-major.net/spiffe", clock=made,
        validity=dt.timedelta(days=days + age),
    )  # fmt: skip
    path.write_bytes(capool.dump(capool.CAPool((ca,))))
    return path


def roles(path: pathlib.Path) -> list[tuple[str, Role]]:
    pool = capool.load(path.read_bytes(), clock=clock.SystemClock(), allow_expired=True)
    return [(ca.id, pool.role(ca)) for ca in pool.cas]


def test_prepare_activate_retire_remove(tmp_path: pathlib.Path) -> None:
    path = pool_file(tmp_path)

    prepared = run("ca", "--file", str(path), "prepare", "--validity", "30d")
    assert prepared.exit_code == 0, prepared.output
    assert roles(path) == [("1", Role.ACTIVE), ("2", Role.PREPARED)]
    new = capool.load(path.read_bytes(), clock=clock.SystemClock()).cas[1]
    assert new.not_after - new.not_before == dt.timedelta(days=30, minutes=5)
    assert "row-major.net/spiffe CA 2" in new.root.subject.rfc4514_string()

    activated = run("ca", "--file", str(path), "activate", "2")
    assert activated.exit_code == 0, activated.output
    assert roles(path) == [("2", Role.ACTIVE), ("1", Role.RETIRED)]

    refused = run("ca", "--file", str(path), "remove", "1")
    assert refused.exit_code == 1
    assert "may be valid until" in refused.output and "--force" in refused.output
    forced = run("ca", "--file", str(path), "remove", "1", "--force")
    assert forced.exit_code == 0, forced.output
    assert roles(path) == [("2", Role.ACTIVE)]


def test_retire_the_active_ca_is_refused(tmp_path: pathlib.Path) -> None:
    path = pool_file(tmp_path)

    result = run("ca", "--file", str(path), "retire", "1")

    assert result.exit_code == 1
    assert "activate its successor instead" in result.output


def test_status_warns_about_an_active_ca_expiring_without_successor(tmp_path: pathlib.Path) -> None:
    path = pool_file(tmp_path, days=10, age=12)  # past half its life, 10 days left

    result = run("ca", "--file", str(path), "status")

    assert result.exit_code == 0, result.output
    assert 'CA "1": active (inferred)' in result.output
    assert "key:       ED25519" in result.output
    assert 'warning: the active CA "1" expires in 10.0 days with no successor' in result.output
    assert "PRIVATE" not in result.output and "SigningKey" not in result.output

    run("ca", "--file", str(path), "rotate")
    after = run("ca", "--file", str(path), "status")
    assert "with no successor" not in after.output
    assert 'CA "2": prepared (prepared ' in after.output


def test_status_shows_an_expired_pool(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "pool.json"
    past = clock.FakeClock(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    path.write_bytes(capool.dump(capool.new_pool(ca_id="1", name="n", clock=past)))

    result = run("ca", "--file", str(path), "status")

    assert result.exit_code == 0, result.output
    assert "EXPIRED" in result.output
    assert 'warning: the active CA "1" expired at 2020-12-31' in result.output


def test_prepare_with_a_parent_pool_makes_an_intermediate(tmp_path: pathlib.Path) -> None:
    path = pool_file(tmp_path)
    offline = tmp_path / "root.json"
    root_pool = capool.new_pool(ca_id="root", name="offline", clock=clock.SystemClock())
    offline.write_bytes(capool.dump(root_pool))

    result = run("ca", "--file", str(path), "prepare", "--parent-pool", str(offline))

    assert result.exit_code == 0, result.output
    pool = capool.load(path.read_bytes(), clock=clock.SystemClock())
    assert pool.cas[1].root == root_pool.signing_ca.root
    assert len(pool.cas[1].intermediates) == 1


def test_constraints_warn_for_uri_and_are_copied_by_successors(tmp_path: pathlib.Path) -> None:
    path = pool_file(tmp_path)

    result = run(
        "ca", "--file", str(path), "prepare", "--dns-constraint", "svc",
        "--uri-constraint", "spiffe://cluster.local",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "URI name constraints are rejected by some" in result.stderr
    run("ca", "--file", str(path), "activate", "2")
    pool = capool.load(path.read_bytes(), clock=clock.SystemClock())
    successor = lifecycle.make_successor(pool, clock=clock.SystemClock())
    from meshtool.pki import constraints

    names = constraints.of(successor.root)
    assert names is not None and names.permitted_subtrees is not None
    assert {n.value for n in names.permitted_subtrees} == {"svc", "cluster.local"}


@pytest.mark.parametrize("text,seconds", [("365d", 365 * 86400), ("12h", 43200), ("90", 90)])
def test_durations(text: str, seconds: int) -> None:
    from meshtool.cli.ca import parse_duration

    assert parse_duration(text) == dt.timedelta(seconds=seconds)


class RacingStore:
    """A store whose first write loses to a concurrent writer that adds its own CA."""

    def __init__(self, inner: poolstore.FileStore, rival: capool.CA) -> None:
        self.inner, self.rival, self.where, self.raced = inner, rival, inner.where, False

    async def read(self) -> poolstore.Read:
        return await self.inner.read()

    async def write(self, pool: capool.CAPool, version: str) -> None:
        if not self.raced:
            self.raced = True
            current = await self.inner.read()
            now = clock.SystemClock().now()
            await self.inner.write(
                lifecycle.prepare(current.pool, self.rival, now), current.version
            )
        await self.inner.write(pool, version)


def test_a_lost_race_re_applies_and_keeps_the_rivals_ca(tmp_path: pathlib.Path) -> None:
    path = pool_file(tmp_path)
    system = clock.SystemClock()
    rival = capool.generate_ca(ca_id="rival", name="n", clock=system)
    mine = capool.generate_ca(ca_id="mine", name="n", clock=system)
    store = RacingStore(poolstore.FileStore(path, clock=system), rival)
    close_stray_event_loop()

    result = asyncio.run(
        poolstore.update(store, lambda pool: lifecycle.prepare(pool, mine, system.now()))
    )

    assert store.raced
    assert [ca.id for ca in result.pool.cas] == ["1", "rival", "mine"]
    assert roles(path) == [("1", Role.ACTIVE), ("rival", Role.PREPARED), ("mine", Role.PREPARED)]


def test_inspect_shows_an_expired_pool_clearly_marked(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "pool.json"
    past = clock.FakeClock(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    path.write_bytes(capool.dump(capool.new_pool(ca_id="1", name="n", clock=past)))

    result = run("inspect", str(path))

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith('CA pool: 1 CA(s)\nEXPIRED: the signing CA "1" expired at')
    assert "(expired)" in result.stdout and "role:        active (inferred)" in result.stdout
