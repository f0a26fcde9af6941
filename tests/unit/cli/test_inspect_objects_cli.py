"""`meshtool inspect` on Kubernetes objects as kubectl prints them (ClusterTrustBundles, a CA
pool Secret, Lists, JSON or YAML) and on stdin (`-`): it shows what they carry, under the
object's name, and names the object when it carries nothing usable."""

from __future__ import annotations

import base64
import json
import pathlib
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from meshtool import clock
from meshtool.cli import root
from meshtool.pki import capool, pem

SIGNER = "example.com/spiffe"


def run(*args: str, input: bytes | None = None) -> Any:
    return CliRunner().invoke(root, ["inspect", *args], input=input, prog_name="meshtool")


@pytest.fixture
def pool() -> capool.CAPool:
    return capool.new_pool(ca_id="1", name=SIGNER, clock=clock.SystemClock())


def bundle(pool: capool.CAPool, name: str = "example.com:spiffe:abc") -> dict[str, Any]:
    return {
        "apiVersion": "certificates.k8s.io/v1beta1",
        "kind": "ClusterTrustBundle",
        "metadata": {"name": name},
        "spec": {"signerName": SIGNER, "trustBundle": pem.encode(pool.trust_anchors())},
    }


def secret(pool: capool.CAPool) -> dict[str, Any]:
    encoded = base64.b64encode(capool.dump(pool)).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "spiffe-ca-pool", "namespace": "meshtool"},
        "type": "Opaque",
        "data": {"pool": encoded},
    }


def test_a_list_of_bundles_shows_each_bundle(pool: capool.CAPool, tmp_path: pathlib.Path) -> None:
    other = capool.new_pool(ca_id="2", name=SIGNER, clock=clock.SystemClock())
    listed = {"apiVersion": "v1", "kind": "List", "items": [bundle(pool), bundle(other, "b:c:d")]}
    path = tmp_path / "ctb.json"
    path.write_text(json.dumps(listed, indent=4))

    result = run(str(path))

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        f"ClusterTrustBundle example.com:spiffe:abc (signer {SIGNER}):",
        "trust bundle: 1 certificate(s)",
    ]
    assert f"ClusterTrustBundle b:c:d (signer {SIGNER}):" in lines
    subjects = [line.split(":", 1)[1].strip() for line in lines if "subject:" in line]
    assert subjects == [pool.trust_anchors()[0].subject.rfc4514_string(), subjects[1]]
    assert "pool is empty" not in result.output


def test_a_bundle_in_yaml_from_stdin(pool: capool.CAPool) -> None:
    result = run("-", input=yaml.safe_dump(bundle(pool)).encode())

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        f"ClusterTrustBundle example.com:spiffe:abc (signer {SIGNER}):",
        "trust bundle: 1 certificate(s)",
    ]


@pytest.mark.parametrize("dump", [json.dumps, yaml.safe_dump])
def test_a_pool_secret_shows_its_pool(
    pool: capool.CAPool, tmp_path: pathlib.Path, dump: Any
) -> None:
    path = tmp_path / "secret"
    path.write_text(dump(secret(pool)))

    result = run(str(path))

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["Secret meshtool/spiffe-ca-pool:", "CA pool: 1 CA(s)", lines[2]]
    assert lines[2].startswith('CA "1" (signing): ')
    assert "PRIVATE" not in result.output


def test_a_chain_from_stdin_verifies_against_a_bundle_object(
    pool: capool.CAPool, tmp_path: pathlib.Path
) -> None:
    anchors = tmp_path / "ctb.yaml"
    anchors.write_text(yaml.safe_dump(bundle(pool)))

    chain = pem.encode(pool.trust_anchors()).encode()
    result = run("-", "--trust-bundle", str(anchors), input=chain)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("chain verifies: 1 certificate(s)")


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            {"kind": "Secret", "metadata": {"name": "tls", "namespace": "a"}, "data": {"x": ""}},
            "Secret a/tls has no data key 'pool': not a CA pool Secret",
        ),
        (
            {"kind": "ClusterTrustBundle", "metadata": {"name": "b"}, "spec": {}},
            "ClusterTrustBundle b has no spec.trustBundle",
        ),
        (
            {"kind": "Pod", "metadata": {"name": "p"}},
            "a Pod, not a ClusterTrustBundle, a CA pool Secret or a List of them",
        ),
        ({"kind": "ClusterTrustBundleList", "items": []}, "the ClusterTrustBundleList is empty"),
    ],
)
def test_an_object_without_credentials_is_named(obj: dict[str, Any], message: str) -> None:
    result = run("-", input=json.dumps(obj).encode())

    assert result.exit_code == 1
    assert result.stderr == f"meshtool: error: stdin: {message}\n"


def test_a_bad_pem_inside_a_bundle_names_the_bundle(pool: capool.CAPool) -> None:
    obj = bundle(pool)
    obj["spec"]["trustBundle"] = "-----BEGIN CERTIFICATE-----\nAAAA\n"

    result = run("-", input=json.dumps(obj).encode())

    assert result.exit_code == 1
    assert result.stderr == (
        f"meshtool: error: stdin: ClusterTrustBundle example.com:spiffe:abc (signer {SIGNER}): "
        "PEM block 1 (CERTIFICATE): no END line\n"
    )
