"""The CLI against the real apiserver: `meshtool inspect` reads what `kubectl get -o json|yaml`
prints for ClusterTrustBundles and a CA pool Secret (also from stdin, `-`), and
`make-ca-pool-secret` takes its kubeconfig from MESHTOOL_KUBECONFIG and its context from
`--context`, and says which context and apiserver it wrote to."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from meshtool import clock
from meshtool.kube import errors, resources
from meshtool.pki import capool, pem

SIGNER = "row-major.net/cli-objects"
NAME = "row-major.net:cli-objects:one"


def meshtool(
    *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MESHTOOL_")}
    command = [sys.executable, "-m", "meshtool", *args]
    return subprocess.run(
        command,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        env={**inherited, **(env or {})},
    )


@pytest.mark.all_versions  # the served ClusterTrustBundle version differs between releases
async def test_inspect_reads_kubectl_output_of_cluster_trust_bundles(kube, kubectl, ctb_version):
    pool = capool.new_pool(ca_id="1", name=SIGNER, clock=clock.SystemClock())
    resource = resources.cluster_trust_bundles(ctb_version)
    body = {
        "apiVersion": f"certificates.k8s.io/{ctb_version}",
        "kind": "ClusterTrustBundle",
        "metadata": {"name": NAME},
        "spec": {"signerName": SIGNER, "trustBundle": pem.encode(pool.trust_anchors())},
    }
    await kube.create(resource, body)
    try:
        listed = await kubectl.run(
            "get", f"clustertrustbundles.{ctb_version}.certificates.k8s.io", "-o", "json"
        )
        one = await kubectl.run(
            "get", f"clustertrustbundles.{ctb_version}.certificates.k8s.io", NAME, "-o", "yaml"
        )
    finally:
        with contextlib.suppress(errors.NotFound):
            await kube.delete(resource, NAME)

    from_list = await asyncio.to_thread(meshtool, "inspect", "-", input=listed.stdout)
    assert from_list.returncode == 0, from_list.stderr
    lines = from_list.stdout.splitlines()
    at = lines.index(f"ClusterTrustBundle {NAME} (signer {SIGNER}):")
    subject = pool.trust_anchors()[0].subject.rfc4514_string()
    assert lines[at + 1 : at + 4] == [
        "trust bundle: 1 certificate(s)",
        "certificate 1:",
        f"  subject:     {subject}",
    ]

    from_yaml = await asyncio.to_thread(meshtool, "inspect", "-", input=one.stdout)
    assert from_yaml.returncode == 0, from_yaml.stderr
    assert from_yaml.stdout.splitlines()[0] == f"ClusterTrustBundle {NAME} (signer {SIGNER}):"


def with_a_second_context(control_plane, tmp_path: Path) -> Path:
    """The harness kubeconfig plus a context "edges" on the same cluster; the current-context is
    left pointing at the original, renamed to "elsewhere" with a closed-port server."""
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    real_context = next(c for c in config["contexts"] if c["name"] == config["current-context"])
    real_cluster = next(
        c for c in config["clusters"] if c["name"] == real_context["context"]["cluster"]
    )
    broken = {
        "name": "closed",
        "cluster": {**real_cluster["cluster"], "server": "https://127.0.0.1:1"},
    }
    config["clusters"].append(broken)
    config["contexts"] = [
        {"name": "edges", "context": real_context["context"]},
        {"name": "elsewhere", "context": {**real_context["context"], "cluster": "closed"}},
    ]
    config["current-context"] = "elsewhere"
    path = tmp_path / "two-contexts.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


async def test_make_ca_pool_secret_uses_meshtool_kubeconfig_and_context(
    control_plane, kubectl, namespace, tmp_path
):
    config = with_a_second_context(control_plane, tmp_path)
    env = {"MESHTOOL_KUBECONFIG": str(config)}
    args = ("make-ca-pool-secret", "--namespace", namespace, "--name", "pool", "--ca-id", "1")

    elsewhere = await asyncio.to_thread(meshtool, *args, env=env)
    assert elsewhere.returncode == 1
    assert elsewhere.stderr.startswith(
        "meshtool: error: cannot reach the apiserver https://127.0.0.1:1: connection refused"
    )

    done = await asyncio.to_thread(meshtool, *args, "--context", "edges", env=env)
    assert done.returncode == 0, done.stderr
    written = done.stdout.splitlines()[1].strip()
    assert written.startswith('written to context "edges" (cluster ')
    assert written.endswith(f", {server_of(control_plane)})")

    secret = await kubectl.run("get", "secret", "-n", namespace, "pool", "-o", "yaml")
    shown = await asyncio.to_thread(meshtool, "inspect", "-", input=secret.stdout)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[:2] == [f"Secret {namespace}/pool:", "CA pool: 1 CA(s)"]


def server_of(control_plane) -> str:
    """The apiserver URL of the harness's kubeconfig."""
    return yaml.safe_load(control_plane.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
