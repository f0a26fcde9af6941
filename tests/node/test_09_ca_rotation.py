"""The end of the manual rotation begun in test_04: the example client and server of spiffe-mtls
talk mTLS through all of it with zero failed requests.

By now the new CA has been active since test_04, and the kubelet restart of test_08 made every pod
ask again, so every spiffe certificate mounted on this node should chain to the new root (this
test waits for that, bounded). `meshtool ca remove` of the old CA is refused while leaves it
signed may still be valid (24 h); `--force` removes it (an operator who knows the leaves were
replaced); the trust bundles and then the pods' files drop the old root; and the spiffe-mtls
client's log, from the start of the refresh test through the rotation, shows no failed request.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from meshtool.pki import pem

from .conftest import (
    SPIFFE_TRUST_FILE,
    RefreshWatch,
    Rotation,
    client_log,
    meshtool_ca,
    trust_file_has,
)
from .nodekit import Kubectl, ready, report, verify, volume_dir, wait_for
from .test_04_trust_bundle import published_roots

pytestmark = [pytest.mark.node, pytest.mark.timeout(900)]

SPIFFE = "row-major.net/spiffe"


def spiffe_bundles(kubectl: Kubectl) -> list[tuple[str, Path]]:
    """(pod/volume, credential bundle file) of every spiffe certificate on running pods."""
    found = []
    for pod in kubectl.json("get", "pods", "-A")["items"]:
        if not ready(pod) or pod["metadata"].get("deletionTimestamp"):
            continue
        for volume in pod["spec"].get("volumes") or []:
            for source in (volume.get("projected") or {}).get("sources") or []:
                cert = source.get("podCertificate") or {}
                if cert.get("signerName") == SPIFFE:
                    name = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
                    path = volume_dir(pod, volume["name"]) / cert["credentialBundlePath"]
                    found.append((f"{name}:{volume['name']}", path))
    return found


def not_on_new_ca(kubectl: Kubectl, new: x509.Certificate) -> list[str]:
    anchors = new.public_bytes(serialization.Encoding.PEM)
    stale = []
    for where, path in spiffe_bundles(kubectl):
        try:
            verify(pem.credential(path.read_bytes()).chain, anchors)
        except Exception as exc:  # any failure (a half-written file too) means "not yet"
            stale.append(f"{where}: {exc}")
    return stale


def requests_since(kubectl: Kubectl, since: str) -> tuple[list[str], list[str]]:
    lines = [line for line in client_log(kubectl, since).splitlines() if "GET " in line]
    return lines, [line for line in lines if ": 200 " not in line]


def test_the_client_and_server_talk_through_a_full_rotation(
    quickstart: Kubectl, refresh_watch: RefreshWatch, rotation: Rotation
) -> None:
    wait_for(
        "every spiffe certificate on the node chains to the new CA",
        lambda: not not_on_new_ca(quickstart, rotation.new),
        600,
    )
    stale = not_on_new_ca(quickstart, rotation.new)
    assert not stale and spiffe_bundles(quickstart), stale
    refused = meshtool_ca(quickstart, "remove", rotation.old_id)
    assert refused.returncode != 0 and "--force" in refused.stderr, refused
    rotation.record(quickstart, f"ca remove {rotation.old_id}: refused: {refused.stderr.strip()}")
    forced = meshtool_ca(quickstart, "remove", rotation.old_id, "--force")
    assert forced.returncode == 0, forced.stderr
    rotation.record(quickstart, f"ca remove {rotation.old_id} --force ({forced.stdout.strip()})")
    wait_for(
        "the bundles drop the old root", lambda: rotation.old not in published_roots(quickstart)
    )
    for app in ("server", "client"):
        wait_for(
            f"the spiffe-mtls {app}'s {SPIFFE_TRUST_FILE} drops the old root",
            lambda a=app: not trust_file_has(quickstart, a, rotation.old),
            480,
        )
    rotation.record(quickstart, "both trust-bundle files dropped the old root")
    time.sleep(25)  # two more client requests against the new root alone
    lines, failed = requests_since(quickstart, refresh_watch.since)
    assert lines and not failed, failed
    report(
        "CA rotation, second half, and the spiffe-mtls client's requests",
        "\n".join(rotation.steps)
        + f"\nclient requests since {refresh_watch.since}: {len(lines)}, failed: {len(failed)}"
        + f"\nfirst: {lines[0]}\nlast:  {lines[-1]}",
    )
