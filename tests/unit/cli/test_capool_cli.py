from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import pathlib
import stat
from typing import Any

import pytest
from click.testing import CliRunner

from meshtool import clock
from meshtool.cli import root
from meshtool.kube import client as kube_client
from meshtool.kube import errors, resources
from meshtool.pki import capool


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    _close_stray_event_loop()
    return CliRunner().invoke(root, list(args), env=env)


def _close_stray_event_loop() -> None:
    """Close the loop looptime's pytest hook leaves set (unclosed) for every sync test.

    The Secret path calls `asyncio.run`, which replaces the current loop; the orphaned one would
    then be collected unclosed and its ResourceWarning fails the run (warnings are errors).
    """
    with contextlib.suppress(RuntimeError):
        asyncio.get_event_loop_policy().get_event_loop().close()


def pool_of(data: bytes) -> capool.CAPool:
    return capool.load(data, clock=clock.SystemClock())


def test_output_writes_a_private_pool_file(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "pool.json"

    result = run("make-ca-pool-secret", "--name", "ca", "--ca-id", "1", "--output", str(out))

    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    pool = pool_of(out.read_bytes())
    ca = pool.signing_ca
    assert ca.id == "1"
    assert ca.root.subject.rfc4514_string() == "CN=ca CA 1"
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith(
        f'created CA pool in {out}: CA "1" (ED25519, CN=ca CA 1), valid until '
    )
    assert json.loads(out.read_bytes())["CAs"][0]["SigningKeyPKCS8"] not in result.output


def test_signer_name_and_key_type(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "pool.json"

    result = run(
        "make-ca-pool-secret", "--name", "ca", "--ca-id", "2", "--key-type", "ecdsa-p256",
        "--signer-name", "example.com/svc", "--output", str(out),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    ca = pool_of(out.read_bytes()).signing_ca
    assert ca.root.subject.rfc4514_string() == "CN=example.com/svc CA 2"
    assert "(ECDSAP256, CN=example.com/svc CA 2)" in result.stdout


def test_flags_come_from_environment_variables(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "pool.json"
    env = {
        "MESHTOOL_MAKE_CA_POOL_SECRET_NAME": "from-env",
        "MESHTOOL_MAKE_CA_POOL_SECRET_CA_ID": "9",
        "MESHTOOL_MAKE_CA_POOL_SECRET_OUTPUT": str(out),
    }

    result = run("make-ca-pool-secret", env=env)

    assert result.exit_code == 0, result.output
    assert pool_of(out.read_bytes()).signing_ca.root.subject.rfc4514_string() == "CN=from-env CA 9"


def test_an_existing_file_is_not_overwritten(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "pool.json"
    out.write_text("precious")

    result = run("make-ca-pool-secret", "--name", "ca", "--ca-id", "1", "--output", str(out))

    assert result.exit_code == 1
    assert result.stderr == f"meshtool: error: {out} already exists; not overwriting it\n"
    assert out.read_text() == "precious"


def test_an_unwritable_path_is_one_line(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "missing-dir" / "pool.json"

    result = run("make-ca-pool-secret", "--name", "ca", "--ca-id", "1", "--output", str(out))

    assert result.exit_code == 1
    assert result.stderr == f"meshtool: error: cannot write {out}: No such file or directory\n"


def test_namespace_is_needed_without_output() -> None:
    result = run("make-ca-pool-secret", "--name", "ca", "--ca-id", "1")

    assert result.exit_code == 2
    assert "--namespace is required unless --output is given" in result.stderr


def test_bad_key_type_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    result = run(
        "make-ca-pool-secret", "--name", "ca", "--ca-id", "1", "--key-type", "rsa",
        "--output", str(tmp_path / "p.json"),
    )  # fmt: skip

    assert result.exit_code == 2
    assert "'rsa' is not one of 'ed25519', 'ecdsa-p256'" in result.stderr


# --- the cluster path ------------------------------------------------------------------------


class FakeKube:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.created: list[tuple[resources.Resource, dict[str, Any], str | None]] = []
        self.closed = False
        self.kubeconfig: str | None = None

    async def create(
        self, resource: resources.Resource, body: dict[str, Any], *, namespace: str | None = None
    ) -> dict[str, Any]:
        self.created.append((resource, body, namespace))
        if self.error:
            raise self.error
        return body

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch) -> FakeKube:
    fake = FakeKube()

    def from_kubeconfig(cls: type, /, path: str | None = None, **_: Any) -> FakeKube:
        fake.kubeconfig = path
        return fake

    monkeypatch.setattr(kube_client.KubeClient, "from_kubeconfig", classmethod(from_kubeconfig))
    return fake


def test_creates_an_opaque_secret(kube: FakeKube) -> None:
    result = run(
        "make-ca-pool-secret", "--namespace", "meshtool", "--name", "ca", "--ca-id", "1",
        "--kubeconfig", "/tmp/kubeconfig",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    [(resource, body, namespace)] = kube.created
    assert resource == resources.SECRETS
    assert namespace == "meshtool"
    assert body["metadata"] == {"name": "ca", "namespace": "meshtool"}
    assert body["type"] == "Opaque"
    assert list(body["data"]) == ["pool"]
    assert pool_of(base64.b64decode(body["data"]["pool"])).signing_ca.id == "1"
    assert kube.kubeconfig == "/tmp/kubeconfig"
    assert kube.closed
    assert result.stdout.startswith("created CA pool in Secret meshtool/ca (key 'pool'): CA \"1\"")
    assert body["data"]["pool"] not in result.output


def test_an_existing_secret_is_not_overwritten(kube: FakeKube) -> None:
    kube.error = errors.Conflict(409, {"reason": "AlreadyExists", "message": "exists"})

    result = run("make-ca-pool-secret", "--namespace", "ns", "--name", "ca", "--ca-id", "1")

    assert result.exit_code == 1
    assert result.stderr == "meshtool: error: Secret ns/ca already exists; not overwriting it\n"
    assert kube.closed


def test_other_api_errors_are_one_line_without_debug(kube: FakeKube) -> None:
    kube.error = errors.Forbidden(403, {"reason": "Forbidden", "message": "no"})

    result = run("make-ca-pool-secret", "--namespace", "ns", "--name", "ca", "--ca-id", "1")

    assert result.exit_code == 1
    assert result.stderr == "meshtool: error: no (403 Forbidden)\n"
    assert "Traceback" not in result.output


def test_a_conflict_that_is_not_already_exists_propagates(kube: FakeKube) -> None:
    kube.error = errors.Conflict(409, {"reason": "Conflict", "message": "try again"})

    result = run(
        "--debug", "make-ca-pool-secret", "--namespace", "ns", "--name", "ca", "--ca-id", "1"
    )

    assert isinstance(result.exception, errors.Conflict)
