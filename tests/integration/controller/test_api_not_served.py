"""A cluster without the PodCertificateRequest API: the controller exits at once with one line
saying which feature gate and --runtime-config it needs."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from meshtool.testing.controlplane import ControlPlane


@pytest.fixture
async def without_pcr_api(tmp_path):
    # A 1.35 cluster with its defaults: the harness turns the beta gates and API on, and a
    # later entry for the same key wins, so these turn them off again.
    flags = [
        "--feature-gates=PodCertificateRequest=false,ClusterTrustBundle=false,"
        "ClusterTrustBundleProjection=false",
        "--runtime-config=certificates.k8s.io/v1beta1=false",
    ]
    async with ControlPlane("1.35", tmp_path / "k8s", apiserver_flags=flags) as cp:
        yield cp


async def test_controller_names_the_missing_gate_and_runtime_config(without_pcr_api, pools):
    command = [
        sys.executable,
        "-m",
        "meshtool",
        "controller",
        "--kubeconfig",
        str(without_pcr_api.kubeconfig),
        "--enable-spiffe-signer",
        "--spiffe-ca-pool",
        str(pools["spiffe"]),
        "--health-address",
        "",
    ]
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "PodCertificateRequest=true" in lines[0]
    assert "--runtime-config=certificates.k8s.io/v1beta1/podcertificaterequests=true" in lines[0]
    assert "Traceback" not in done.stderr
