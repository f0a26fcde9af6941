"""Atomic file writes: a file is either absent, or present with all of its content.

`write` puts the bytes in a temporary file in the target's own directory (so the final step
is a rename within one filesystem), fsyncs it, and only then gives it the target's name:
with `replace=True` by `os.replace`, which swaps an existing file atomically; otherwise by
`os.link`, which fails with `FileExistsError` if the name is taken, so an existing file is never
overwritten and two writers cannot both win. The directory is fsynced so the new name survives
a crash. If anything fails (a full disk, a quota, a signal), the temporary file is removed:
no half-written or empty file is left behind, and the next attempt starts clean.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write(path: str | os.PathLike[str], data: bytes, *, replace: bool, mode: int = 0o600) -> None:
    """Give `path` the content `data` (file mode `mode`) all at once, or not at all."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            os.fchmod(file.fileno(), mode)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        _rename(tmp, target, replace=replace)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _sync_directory(target.parent)


def _rename(tmp: str, target: Path, *, replace: bool) -> None:
    if replace:
        os.replace(tmp, target)
    else:
        os.link(tmp, target)  # the temporary name is removed by the caller


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
