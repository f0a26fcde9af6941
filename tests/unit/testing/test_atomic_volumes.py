"""The AtomicWriter layout, PEM cleaning and credential files of the kubelet simulator."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from pathlib import Path

import pytest

from meshtool.pki import pem
from meshtool.testing import volumes

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def timestamped_dirs(target: Path) -> list[str]:
    return sorted(p.name for p in target.iterdir() if p.name.startswith("..2026"))


def test_first_write_layout(tmp_path):
    target = tmp_path / "vol"
    assert volumes.write_atomic(target, {"tls.pem": b"A", "ca.pem": b"B"}, now=NOW)
    data = target / "..data"
    assert data.is_symlink()
    assert os.readlink(data).startswith("..2026_01_02_03_04_05.")
    assert timestamped_dirs(target) == [os.readlink(data)]
    for name in ("tls.pem", "ca.pem"):
        assert os.readlink(target / name) == f"..data/{name}"
    assert (target / "tls.pem").read_bytes() == b"A"
    assert (target / "ca.pem").stat().st_mode & 0o777 == 0o644
    assert not (target / "..data_tmp").exists()


def test_swap_replaces_contents_and_removes_old_dir(tmp_path):
    target = tmp_path / "vol"
    volumes.write_atomic(target, {"tls.pem": b"old", "gone.pem": b"x"}, now=NOW)
    old_dir = os.readlink(target / "..data")
    later = NOW + dt.timedelta(seconds=1)
    assert volumes.write_atomic(target, {"tls.pem": b"new", "sub/ca.pem": b"c"}, now=later)
    new_dir = os.readlink(target / "..data")
    assert new_dir != old_dir
    assert timestamped_dirs(target) == [new_dir]
    assert (target / "tls.pem").read_bytes() == b"new"
    assert (target / "sub" / "ca.pem").read_bytes() == b"c"
    assert os.readlink(target / "sub") == "..data/sub"
    assert not (target / "gone.pem").is_symlink()
    assert volumes.read_payload(target) == {"tls.pem": b"new", "sub/ca.pem": b"c"}


def test_identical_payload_is_a_no_op(tmp_path):
    target = tmp_path / "vol"
    volumes.write_atomic(target, {"a": b"1"}, now=NOW)
    before = os.readlink(target / "..data")
    assert not volumes.write_atomic(target, {"a": b"1"}, now=NOW + dt.timedelta(seconds=9))
    assert os.readlink(target / "..data") == before


def test_mode_is_applied(tmp_path):
    target = tmp_path / "vol"
    volumes.write_atomic(target, {"key.pem": b"k"}, now=NOW, mode=0o600)
    assert (target / "key.pem").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("name", ["", "/abs", "../up", "a/../b", "..data", "..hidden/x"])
def test_bad_paths_are_refused(tmp_path, name):
    with pytest.raises(ValueError):
        volumes.write_atomic(tmp_path / "vol", {name: b"x"}, now=NOW)


def test_readers_never_see_a_mixed_file(tmp_path):
    """A reader looping over the user-visible path sees only whole payloads during swaps.

    It may rarely get ENOENT (it resolved `..data` just before the old dir was removed); that
    race exists with the kubelet's AtomicWriter too, and readers retry.
    """
    target = tmp_path / "vol"
    volumes.write_atomic(target, {"tls.pem": b"0" * 4096}, now=NOW)
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            with contextlib.suppress(FileNotFoundError):
                seen.add((target / "tls.pem").read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(1, 60):
            payload = {"tls.pem": str(i % 10).encode() * 4096}
            volumes.write_atomic(target, payload, now=NOW + dt.timedelta(seconds=i))
    finally:
        stop.set()
        reader.join()
    assert all(len(content) == 4096 and len(set(content)) == 1 for content in seen)


PEM_WITH_NOISE = b"""junk before
-----BEGIN CERTIFICATE-----
Proc-Type: 4,ENCRYPTED
Comment: header

AAEC
-----END CERTIFICATE-----
between
-----BEGIN TRUSTED CERTIFICATE-----
AwQF
-----END TRUSTED CERTIFICATE-----
"""


def test_clean_chain_drops_headers_and_retypes_blocks():
    assert [b.der for b in pem.blocks(PEM_WITH_NOISE)] == [b"\x00\x01\x02", b"\x03\x04\x05"]
    assert volumes.clean_chain(PEM_WITH_NOISE) == (
        b"-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n"
        b"-----BEGIN CERTIFICATE-----\nAwQF\n-----END CERTIFICATE-----\n"
    )


def test_certificate_pem_wraps_at_64():
    pem = volumes.certificate_pem(bytes(100))
    lines = pem.splitlines()
    assert [len(line) for line in lines[1:-1]] == [64, 64, 8]  # 136 base64 characters


def test_credential_files_by_path_fields():
    source = {"credentialBundlePath": "b.pem", "keyPath": "k.pem", "certificateChainPath": "c.pem"}
    files = volumes.credential_files(source, b"KEY\n", b"CHAIN\n")
    assert files == {"b.pem": b"KEY\nCHAIN\n", "k.pem": b"KEY\n", "c.pem": b"CHAIN\n"}
    assert volumes.credential_files({"keyPath": "k"}, b"K", b"C") == {"k": b"K"}
