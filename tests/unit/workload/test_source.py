"""`meshtool.workload.source`: rebuilding on change only, refusals, withdrawal, torn reads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from meshtool.workload import source


def test_builds_only_when_contents_change_and_withdraws_on_request(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"one")
    built: list[bytes] = []

    def build(snaps: Mapping[str, source.Snapshot]) -> source.Loaded[bytes]:
        data = snaps["f"].data
        if data == b"withdraw":
            raise source.Withdrawn("nothing to use")
        if data == b"bad":
            raise source.InvalidMaterial("bad")
        built.append(data)
        return source.Loaded(data, "ok")

    followed = source.Source(files=source.fixed({"f": str(path)}), build=build, label="f")
    assert followed.refresh() and followed.current() == b"one"
    path.write_bytes(b"one")  # new mtime, same bytes: read, not rebuilt
    assert not followed.refresh()
    path.write_bytes(b"bad")
    assert not followed.refresh() and followed.current() == b"one"  # refused: the old stays
    path.write_bytes(b"withdraw")
    assert followed.refresh()
    with pytest.raises(source.InvalidMaterial, match="f: nothing to use"):
        followed.current()  # withdrawn: no old value kept alive
    path.write_bytes(b"two")
    assert followed.refresh() and followed.current() == b"two"
    assert built == [b"one", b"two"]


def test_contents_rewritten_while_building_are_not_swapped_in(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"one")

    def build(snaps: Mapping[str, source.Snapshot]) -> source.Loaded[bytes]:
        path.write_bytes(b"two")  # another writer, mid-build
        return source.Loaded(snaps["f"].data, "torn")

    followed = source.Source(files=source.fixed({"f": str(path)}), build=build, label="f")
    assert not followed.refresh()
    with pytest.raises(source.InvalidMaterial, match="no usable TLS material yet in f"):
        followed.current()
