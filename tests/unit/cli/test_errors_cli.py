"""How meshtool commands fail: one line with one prefix, naming the file or server, never a repr
or a traceback (except with --debug); a closed stdout is not an error. Each test runs the real
command, `python -m meshtool` in a child process, and checks its exit status and stderr."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

PREFIX = "meshtool: error: "


def meshtool(
    *args: str, env: dict[str, str] | None = None, stdout: int = subprocess.PIPE
) -> subprocess.CompletedProcess:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MESHTOOL_")}
    environment = {**inherited, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    command = [sys.executable, "-m", "meshtool", *args]
    return subprocess.run(
        command, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60, env=environment
    )


def one_line(done: subprocess.CompletedProcess) -> str:
    """The single stderr line, checked to carry the prefix and no Python internals."""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(PREFIX), done.stderr
    assert "Traceback" not in done.stderr and "Error('" not in done.stderr
    return lines[0].removeprefix(PREFIX)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kubeconfig(path: Path, server: str, context: str = "ctx") -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: c\n  cluster: {{server: '{server}', insecure-skip-tls-verify: true}}\n"
        f"contexts:\n- name: {context}\n  context: {{cluster: c, user: u}}\n"
        f"current-context: {context}\nusers:\n- name: u\n  user: {{token: t}}\n"
    )
    return path


SECRET = ("make-ca-pool-secret", "--namespace", "ns", "--name", "pool", "--ca-id", "1")


def test_a_usage_error_has_the_same_prefix_as_our_errors() -> None:
    done = meshtool("make-ca-pool-secret", "--name", "pool")
    assert done.returncode == 2
    assert one_line(done) == (
        "Missing option '--ca-id'. (see 'meshtool make-ca-pool-secret --help')"
    )
    assert "Error:" not in done.stderr


def test_an_empty_kubeconfig_names_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.kubeconfig"
    empty.write_text("")
    done = meshtool(*SECRET, "--kubeconfig", str(empty))
    assert done.returncode == 1
    assert one_line(done) == f"kubeconfig {empty} is empty"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("clusters: [\n  - name: x\n   bad: : :\n", "is not valid YAML at line 2, column 3"),
        ("- a\n- b\n", "is not a kubeconfig (not a YAML mapping)"),
        ("clusters: 5\n", ": clusters is not a list"),
        ("clusters:\n- cluster: {server: x}\n", "is malformed: an entry has no 'name'"),
        ("contexts: []\nclusters: []\n", "has no current-context (contexts: none)"),
    ],
)
def test_a_malformed_kubeconfig_names_the_file_and_the_problem(
    tmp_path: Path, content: str, problem: str
) -> None:
    bad = tmp_path / "bad.kubeconfig"
    bad.write_text(content)
    done = meshtool(*SECRET, "--kubeconfig", str(bad))
    assert done.returncode == 1
    assert one_line(done).startswith(f"kubeconfig {bad} {problem}".replace(" :", ":"))


def test_an_unknown_context_lists_the_known_ones(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "kc", "https://127.0.0.1:1")
    done = meshtool(*SECRET, "--kubeconfig", str(config), "--context", "nope")
    assert done.returncode == 1
    assert one_line(done) == f"kubeconfig {config} has no context 'nope' (contexts: ctx)"


def test_a_refused_connection_names_the_server(tmp_path: Path) -> None:
    server = f"https://127.0.0.1:{closed_port()}"
    done = meshtool(*SECRET, "--kubeconfig", str(kubeconfig(tmp_path / "kc", server)))
    assert done.returncode == 1
    assert one_line(done) == (
        f"cannot reach the apiserver {server}: connection refused "
        "(POST /api/v1/namespaces/ns/secrets)"
    )


def test_the_kubeconfig_comes_from_meshtool_kubeconfig_and_the_context_from_its_flag(
    tmp_path: Path,
) -> None:
    server = f"https://127.0.0.1:{closed_port()}"
    config = kubeconfig(tmp_path / "kc", server, context="other")
    env = {"MESHTOOL_KUBECONFIG": str(config), "KUBECONFIG": str(tmp_path / "absent")}
    done = meshtool(*SECRET, env=env)
    assert f"cannot reach the apiserver {server}" in one_line(done)
    missing = meshtool(*SECRET, env={**env, "MESHTOOL_CONTEXT": "gone"})
    assert one_line(missing) == f"kubeconfig {config} has no context 'gone' (contexts: other)"


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    empty = tmp_path / "empty.kubeconfig"
    empty.write_text("")
    done = meshtool("--debug", *SECRET, "--kubeconfig", str(empty))
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "ConfigError" in done.stderr


def test_a_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    """`meshtool inspect x | head -1`: the reader is gone before meshtool writes a line."""
    pool = tmp_path / "pool.json"
    meshtool("make-ca-pool-secret", "--name", "p", "--ca-id", "1", "--output", str(pool))
    read, write = os.pipe()
    os.close(read)
    try:
        done = meshtool("inspect", str(pool), stdout=write)
    finally:
        os.close(write)
    assert done.stderr == ""
    assert done.returncode == 141


def test_a_head_of_the_output_is_the_first_line(tmp_path: Path) -> None:
    pool = tmp_path / "pool.json"
    meshtool("make-ca-pool-secret", "--name", "p", "--ca-id", "1", "--output", str(pool))
    command = f"{sys.executable} -m meshtool inspect {pool} | head -1"
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "CA pool: 1 CA(s)\n", "")
