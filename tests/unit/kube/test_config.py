"""Kubeconfig handling with generated kubeconfigs (certs from meshtool.testing.pki)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from meshtool.kube import config
from meshtool.kube.client import KubeClient
from meshtool.testing import pki


def write_kubeconfig(path: Path, contexts: dict[str, str], current: str) -> Path:
    ca = pki.new_ca()
    user = pki.client_cert(ca, "admin", ["system:masters"])

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": n, "cluster": {"server": s, "certificate-authority-data": b64(ca.cert_pem)}}
            for n, s in contexts.items()
        ],
        "users": [
            {
                "name": "u",
                "user": {
                    "client-certificate-data": b64(user.cert_pem),
                    "client-key-data": b64(user.key_pem),
                },
            }
        ],
        "contexts": [{"name": n, "context": {"cluster": n, "user": "u"}} for n in contexts],
        "current-context": current,
    }
    path.write_text(yaml.safe_dump(doc))
    return path


async def test_from_kubeconfig_uses_current_or_named_context(tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "kc", {"a": "https://a:6443", "b": "https://b:6443"}, "a")
    async with KubeClient.from_kubeconfig(path) as kube:
        assert kube.server == "https://a:6443"
    async with KubeClient.from_kubeconfig(str(path), context="b") as kube:
        assert kube.server == "https://b:6443"


async def test_kubeconfig_env_list_takes_first_existing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_kubeconfig(tmp_path / "kc", {"a": "https://a:6443"}, "a")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{path}")
    assert config.kubeconfig_path() == path
    async with KubeClient.from_kubeconfig() as kube:
        assert kube.server == "https://a:6443"


def test_missing_file_and_unknown_context_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="nope: No such file"):
        KubeClient.from_kubeconfig(tmp_path / "nope")
    path = write_kubeconfig(tmp_path / "kc", {"a": "https://a:6443"}, "a")
    with pytest.raises(config.ConfigError, match="zzz"):
        KubeClient.from_kubeconfig(path, context="zzz")


def test_in_cluster_without_service_account_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(config.ConfigError):
        KubeClient.in_cluster()
