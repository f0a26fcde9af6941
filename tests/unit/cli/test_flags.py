"""`meshtool controller`'s flags come from the settings dataclasses: names, defaults, help."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from meshtool.api.types import KeyType
from meshtool.app.settings import ControllerSettings, ShardingSettings, flag
from meshtool.cli import controller, flags

COMMAND = controller.COMMANDS[0]
OPTIONS = {p.opts[0]: p for p in COMMAND.params if isinstance(p, click.Option)}
FLAGS = [*flags.walk(ControllerSettings), *flags.walk(ShardingSettings, controller.SHARDING)]

# README's Configuration table, plus --log-level.
README_FLAGS = [
    "--kubeconfig",
    "--in-cluster",
    "--enable-service-dns-signer",
    "--service-dns-ca-pool",
    "--enable-spiffe-signer",
    "--spiffe-ca-pool",
    "--spiffe-trust-domain",
    "--cluster-issuer",
    "--cluster-domain",
    "--service-dns-cluster-domain-names",
    "--service-dns-clusterset-domains",
    "--enable-pod-identity-signer",
    "--service-dns-ca-pool-secret",
    "--spiffe-ca-pool-secret",
    "--pod-identity-ca-pool-secret",
    "--disable-ca-rotation",
    "--ca-rotate-at",
    "--ca-propagation-delay",
    "--ca-rotation-interval",
    "--ca-removal-delay",
    "--pod-identity-ca-pool",
    "--signer-domain",
    "--accepted-key-types",
    "--sharding-pod-namespace",
    "--sharding-pod-name",
    "--sharding-pod-uid",
    "--sharding-application-name",
    "--workers",
    "--kube-api-qps",
    "--kube-api-burst",
    "--identity-mismatch-grace",
    "--refresh-fraction",
    "--health-address",
    "--metrics-auth",
    "--bundle-endpoint-listen",
    "--bundle-endpoint-profile",
    "--bundle-endpoint-cert-file",
    "--bundle-endpoint-key-file",
    "--bundle-endpoint-spiffe-id",
    "--bundle-refresh-hint",
    "--log-format",
    "--log-level",
    "--federation",
    "--federation-ca-file",
    "--federation-min-refresh",
    "--federation-max-refresh",
    "--federation-fetch-timeout",
]


def envvar(name: str) -> str:
    return "MESHTOOL_" + name.removeprefix("--").replace("-", "_").upper()


def test_flags_keep_their_names_and_environment_variables():
    assert set(OPTIONS) == set(README_FLAGS)
    assert {name: o.envvar for name, o in OPTIONS.items()} == {f: envvar(f) for f in README_FLAGS}


@pytest.mark.parametrize("name", README_FLAGS)
def test_every_flag_has_help_and_shows_a_default(name):
    option = OPTIONS[name]
    record = option.get_help_record(click.Context(COMMAND))
    assert record is not None
    assert option.help and option.show_default
    assert "default: " in record[1] and f"env var: {envvar(name)}" in record[1]


def test_help_lists_every_environment_variable():
    result = CliRunner().invoke(COMMAND, ["--help"])
    assert result.exit_code == 0
    for name in README_FLAGS:
        assert envvar(name) in result.output


def test_cli_defaults_are_the_dataclass_field_defaults():
    assert {f.name for f in FLAGS} == set(OPTIONS)
    for f in FLAGS:
        assert OPTIONS[f.name].default == f.field.default, f.name


def test_no_flags_given_build_the_default_settings():
    context = COMMAND.make_context("controller", [])
    assert controller.settings_from(context.params) == ControllerSettings()


def test_settings_fields_without_a_flag_are_the_known_ones():
    """A new setting without `flag(...)` is not configurable; this makes that a choice."""
    fields = {f.name for f in dataclasses.fields(ControllerSettings) if "help" not in f.metadata}
    nested = {"sharding", "service_dns", "spiffe", "pod_identity", "bundle_endpoint"}
    internal = {"pool_poll_interval", "trust_bundle_resync", "lease_duration_seconds"}
    assert fields == nested | internal | {"lease_heartbeat"}


def test_accepted_key_types_are_the_key_type_enum():
    help_text = OPTIONS["--accepted-key-types"].help or ""
    assert all(k.value in help_text for k in KeyType)
    context = COMMAND.make_context("controller", ["--accepted-key-types", "ED25519, RSA3072"])
    assert controller.settings_from(context.params).accepted_key_types == ("ED25519", "RSA3072")


def test_environment_variables_fill_nested_settings(monkeypatch):
    env = {
        "MESHTOOL_ENABLE_POD_IDENTITY_SIGNER": "1",
        "MESHTOOL_POD_IDENTITY_CA_POOL": "/pool",
        "MESHTOOL_SHARDING_POD_NAMESPACE": "ns",
        "MESHTOOL_SHARDING_POD_NAME": "pod-0",
        "MESHTOOL_ACCEPTED_KEY_TYPES": "ECDSAP256",
        "MESHTOOL_HEALTH_ADDRESS": "127.0.0.1:9",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = controller.settings_from(COMMAND.make_context("controller", []).params)
    assert settings.pod_identity.enabled and settings.pod_identity.pool_file == Path("/pool")
    assert settings.sharding is not None and settings.sharding.application == "meshtool-controller"
    assert settings.accepted_key_types == ("ECDSAP256",)
    assert settings.health_address == "127.0.0.1:9"


def test_an_empty_health_address_turns_the_endpoint_off():
    context = COMMAND.make_context("controller", ["--health-address", ""])
    assert controller.settings_from(context.params).health_address is None


@dataclasses.dataclass(frozen=True)
class Inner:
    on: bool = flag(False, "Turn {} on.", name="enable-{}")
    size: int = flag(3, "Size of {}.")


@dataclasses.dataclass(frozen=True)
class Outer:
    rate: float = flag(7.5, "A rate.")
    names: tuple[str, ...] = flag(("a", "b"), "Names.")
    where: str | None = flag(None, "A place.", unset="nowhere")
    box: Inner = dataclasses.field(default_factory=Inner)
    hidden: int = 99


def command_for(cls: type[Outer]) -> click.Command:
    def show(**params: object) -> None:
        click.echo(repr(flags.build(cls, params)))

    for decorate in reversed(flags.options(cls)):
        show = decorate(show)
    return click.command("show")(show)


def test_a_dataclass_default_is_the_cli_default():
    result = CliRunner().invoke(command_for(Outer), ["--help"])
    output = " ".join(result.output.split())
    assert "A rate. [env var: MESHTOOL_RATE; default: 7.5]" in output
    assert "Size of box. [env var: MESHTOOL_BOX_SIZE; default: 3]" in output
    assert "--enable-box" in output and "default: (nowhere)" in output and "--hidden" not in output
    result = CliRunner().invoke(command_for(Outer), [])
    assert result.output.strip() == repr(Outer())


def test_a_changed_dataclass_default_changes_the_cli_default():
    @dataclasses.dataclass(frozen=True)
    class Changed(Outer):
        rate: float = flag(2.0, "A rate.")

    result = CliRunner().invoke(command_for(Changed), ["--help"])
    assert "default: 2.0" in result.output
    result = CliRunner().invoke(command_for(Changed), ["--enable-box", "--names", "x,y"])
    assert result.output.strip() == repr(Changed(names=("x", "y"), box=Inner(on=True)))
