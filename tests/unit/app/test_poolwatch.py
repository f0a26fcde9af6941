"""CA pool files reload in place; a corrupt update keeps the previous pool and reports it."""

from __future__ import annotations

import datetime as dt

from meshtool.app.poolwatch import PoolWatcher
from meshtool.clock import FakeClock
from meshtool.controllers.metrics import Metrics
from meshtool.pki import capool

T0 = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def test_good_bad_good(tmp_path):
    clock = FakeClock(T0)
    path = tmp_path / "pool"
    changes: list[int] = []
    watcher = PoolWatcher(
        signer_name="s",
        path=path,
        clock=clock,
        metrics=Metrics(),
        on_change=lambda: changes.append(1),
    )
    assert not watcher.check() and not watcher.healthy  # missing file
    assert "cannot read" in (watcher.error or "")

    first = capool.new_pool(ca_id="1", name="s", clock=clock)
    path.write_bytes(capool.dump(first))
    assert watcher.check() and watcher.healthy and changes == [1]
    assert not watcher.check()  # unchanged bytes: no reload, no callback
    assert changes == [1]

    path.write_text('{"CAs": []}')
    assert not watcher.check()
    assert watcher.pool is not None and capool.dump(watcher.pool) == capool.dump(first)
    assert not watcher.healthy and "empty" in (watcher.error or "").lower()

    second = capool.new_pool(ca_id="2", name="s", clock=clock)
    path.write_bytes(capool.dump(second))
    assert watcher.check() and watcher.healthy
    assert watcher.pool is not None and [ca.id for ca in watcher.pool.cas] == ["2"]
    assert changes == [1, 1]


def test_expired_signing_ca_is_rejected_and_the_old_pool_kept(tmp_path):
    clock = FakeClock(T0)
    path = tmp_path / "pool"
    path.write_bytes(capool.dump(capool.new_pool(ca_id="1", name="s", clock=clock)))
    watcher = PoolWatcher(signer_name="s", path=path, clock=clock, metrics=Metrics())
    assert watcher.check()
    clock.advance(400 * 86400)  # past the CA's one-year validity
    path.write_bytes(path.read_bytes() + b" ")  # same pool, new bytes: reloaded and refused
    assert not watcher.check() and not watcher.healthy
    assert watcher.pool is not None
