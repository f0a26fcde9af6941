"""`make-ca-pool-secret --output` writes atomically: a write that fails half way (here the file
size limit, which fails a write as a full disk does) leaves no file, not even an empty one, so
the next try succeeds. The real command runs in a child process with the limit set."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

from meshtool import clock
from meshtool.pki import capool


def make_pool(out: Path, *, file_size_limit: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        if file_size_limit is not None:  # Python ignores SIGXFSZ, so the write gets EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    command = [sys.executable, "-m", "meshtool", "make-ca-pool-secret", "--name", "ca"]
    command += ["--ca-id", "1", "--output", str(out)]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, preexec_fn=limit, env=env
    )


def test_a_failed_write_leaves_no_file_and_the_next_try_works(tmp_path: Path) -> None:
    out = tmp_path / "pool.json"

    failed = make_pool(out, file_size_limit=100)

    assert failed.returncode == 1
    assert failed.stderr == f"meshtool: error: cannot write {out}: File too large\n"
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary one

    done = make_pool(out)

    assert done.returncode == 0, done.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    assert [ca.id for ca in capool.load(out.read_bytes(), clock=clock.SystemClock()).cas] == ["1"]
