"""Projected-volume files on disk, written the way the kubelet's AtomicWriter writes them.

A volume directory never shows a half-written state. Its layout is:

    <volume>/..2026_01_01_00_00_00.123456   the current payload (a hidden, timestamped dir)
    <volume>/..data -> ..2026_01_01_...      the one pointer that decides what is current
    <volume>/tls.pem -> ..data/tls.pem       one symlink per top-level payload entry

An update writes the new payload into a fresh timestamped dir, points a temporary symlink
`..data_tmp` at it and renames that over `..data` (rename is atomic), then adds symlinks for new
entries, removes symlinks for entries that disappeared and deletes the old timestamped dir. A
reader that opens `tls.pem` therefore sees either the whole old payload or the whole new one.
Separate key and chain files can still be read across a swap (two opens), which is why the single
credential bundle file is the recommended form. Writing an identical payload changes nothing.

Also here: turning issued credentials into files, and PEM cleaning (every block re-encoded as a
header-free CERTIFICATE block, inter-block text dropped), as the kubelet does. Reading PEM is
`meshtool.pki.pem`'s job (its `blocks` drops headers and inter-block text); this module only
re-encodes what it returns.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from meshtool.pki import pem

DATA_DIR = "..data"
_DATA_TMP = "..data_tmp"


def certificate_pem(der: bytes) -> bytes:
    """One header-free CERTIFICATE block with 64-character lines, like Go's pem.Encode."""
    b64 = base64.b64encode(der)
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


def clean_chain(chain: bytes) -> bytes:
    """The kubelet's `cleanCertificateChain`: every block re-encoded as a CERTIFICATE block."""
    return b"".join(certificate_pem(block.der) for block in pem.blocks(chain))


def credential_files(source: Mapping[str, Any], key_pem: bytes, chain: bytes) -> dict[str, bytes]:
    """The files one `podCertificate` source contributes, by its path fields."""
    files: dict[str, bytes] = {}
    if path := source.get("credentialBundlePath"):
        files[path] = key_pem + chain
    if path := source.get("keyPath"):
        files[path] = key_pem
    if path := source.get("certificateChainPath"):
        files[path] = chain
    return files


def read_payload(target: Path) -> dict[str, bytes]:
    """The files currently visible through `..data` (empty when nothing was written yet)."""
    data = target / DATA_DIR
    if not data.is_dir():
        return {}
    return {p.relative_to(data).as_posix(): p.read_bytes() for p in data.rglob("*") if p.is_file()}


def write_atomic(
    target: Path, payload: Mapping[str, bytes], *, now: dt.datetime, mode: int = 0o644
) -> bool:
    """Make `target` show exactly `payload`; returns False when it already did."""
    for name in payload:
        _check_path(name)
    if read_payload(target) == dict(payload) and _links_present(target, payload):
        return False
    target.mkdir(parents=True, exist_ok=True)
    old = _current_dir(target)
    new = _temp_dir(target, now.strftime("..%Y_%m_%d_%H_%M_%S."))
    _write_files(new, payload, mode)
    new.chmod(0o755)
    _swap_data_link(target, new.name)
    _sync_user_links(target, payload)
    if old is not None and old != new.name:
        shutil.rmtree(target / old, ignore_errors=True)
    return True


def _temp_dir(target: Path, prefix: str) -> Path:
    """A new directory named as Go's os.MkdirTemp names it: prefix + a random decimal uint32."""
    while True:
        path = target / f"{prefix}{secrets.randbits(32)}"
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return path


def _check_path(name: str) -> None:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or path.parts[0].startswith(".."):
        raise ValueError(f"invalid projected file path {name!r}")


def _current_dir(target: Path) -> str | None:
    link = target / DATA_DIR
    return os.readlink(link) if link.is_symlink() else None


def _write_files(root: Path, payload: Mapping[str, bytes], mode: int) -> None:
    for name, content in payload.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)


def _swap_data_link(target: Path, dirname: str) -> None:
    tmp = target / _DATA_TMP
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(dirname)
    tmp.rename(target / DATA_DIR)


def _top_level(payload: Mapping[str, bytes]) -> set[str]:
    return {PurePosixPath(name).parts[0] for name in payload}


def _links_present(target: Path, payload: Mapping[str, bytes]) -> bool:
    return all((target / top).is_symlink() for top in _top_level(payload))


def _sync_user_links(target: Path, payload: Mapping[str, bytes]) -> None:
    wanted = _top_level(payload)
    for top in wanted:
        link = target / top
        if not link.is_symlink():
            link.symlink_to(f"{DATA_DIR}/{top}")
    for entry in target.iterdir():
        if not entry.name.startswith("..") and entry.name not in wanted and entry.is_symlink():
            entry.unlink()
