"""`meshtool controller` flags: environment variables, and one clear line for bad settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from meshtool.app.settings import ControllerSettings, SignerSettings
from meshtool.cli import controller, root


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(root, ["controller", *args], env=env or {})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "enable at least one signer"),
        (["--enable-spiffe-signer"], "--spiffe-ca-pool is required with --enable-spiffe-signer"),
        (
            ["--enable-spiffe-signer", "--spiffe-ca-pool", "p", "--signer-domain", "Bad_Domain"],
            "--signer-domain must be a DNS name",
        ),
        (
            ["--enable-spiffe-signer", "--spiffe-ca-pool", "p", "--workers", "0"],
            "--workers must be at least 1",
        ),
        (
            ["--enable-spiffe-signer", "--spiffe-ca-pool", "p", "--accepted-key-types", "RSA2048"],
            "--accepted-key-types: unknown 'RSA2048'",
        ),
        (
            ["--enable-spiffe-signer", "--spiffe-ca-pool", "p", "--sharding-pod-name", "x"],
            "--sharding-pod-namespace and --sharding-pod-name go together",
        ),
    ],
)
def test_invalid_settings_exit_at_once_with_one_line(args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_every_flag_has_a_meshtool_environment_variable():
    params = {
        "kubeconfig": "/k",
        "in_cluster": False,
        "sharding_pod_namespace": "ns",
        "sharding_pod_name": "pod-0",
        "sharding_pod_uid": "uid",
        "sharding_application_name": "app",
        "enable_service_dns_signer": False,
        "service_dns_ca_pool": None,
        "enable_spiffe_signer": True,
        "spiffe_ca_pool": Path("/p"),
        "spiffe_trust_domain": "example.org",
        "enable_pod_identity_signer": False,
        "pod_identity_ca_pool": None,
        "signer_domain": "example.com",
        "accepted_key_types": "ED25519, ECDSAP256",
        "workers": 4,
        "identity_mismatch_grace": 5.0,
        "kube_api_qps": 10.0,
        "kube_api_burst": 20,
        "health_address": "",
        "log_format": "json",
    }
    settings = controller.settings_from(params)
    assert settings.sharding is not None and settings.sharding.pod_name == "pod-0"
    assert settings.accepted_key_types == ("ED25519", "ECDSAP256")
    assert settings.health_address is None
    assert settings.validate() is None
    command = controller.COMMANDS[0]
    envvars = {p.envvar for p in command.params}
    assert "MESHTOOL_SHARDING_POD_UID" in envvars and "MESHTOOL_SPIFFE_CA_POOL" in envvars
    assert all(str(e).startswith("MESHTOOL_") for e in envvars)


def test_environment_variables_are_read():
    result = run(
        env={
            "MESHTOOL_ENABLE_SPIFFE_SIGNER": "true",
            "MESHTOOL_WORKERS": "0",
            "MESHTOOL_SPIFFE_CA_POOL": "p",
        }
    )
    assert result.exit_code == 2 and "--workers must be at least 1" in result.output


def test_settings_list_enabled_signers_in_a_stable_order():
    settings = ControllerSettings(
        spiffe=SignerSettings(True, Path("s")), service_dns=SignerSettings(True, Path("d"))
    )
    assert list(settings.enabled_signers()) == ["service-dns", "spiffe"]
