"""`meshtool controller`: run the signer controller.

Flags match the reference Go meshtool's where they overlap; each can also be given as the
environment variable `MESHTOOL_<FLAG>` (e.g. `MESHTOOL_SPIFFE_TRUST_DOMAIN`), which is how the
Deployment passes the downward-API sharding identity. Invalid settings exit at once with one
line naming the flag.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from meshtool.app import logs, main
from meshtool.app.settings import ControllerSettings, SignerSettings
from meshtool.cli.options import F, option
from meshtool.sharding.leases import Identity

PATH = click.Path(dir_okay=False, path_type=Path)

OPTIONS: list[Callable[[F], F]] = [
    option("--kubeconfig", help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."),
    option("--in-cluster", is_flag=True, help="Use the pod's service account."),
    option("--sharding-pod-namespace", help="Namespace of this replica's pod (enables sharding)."),
    option("--sharding-pod-name", help="Name of this replica's pod."),
    option("--sharding-pod-uid", help="UID of this replica's pod (owns its Lease)."),
    option("--sharding-application-name", default="meshtool-controller", show_default=True),
    option("--enable-service-dns-signer", is_flag=True),
    option("--service-dns-ca-pool", type=PATH, help="CA pool file of the service-dns signer."),
    option("--enable-spiffe-signer", is_flag=True),
    option("--spiffe-trust-domain", default="cluster.local", show_default=True),
    option("--spiffe-ca-pool", type=PATH, help="CA pool file of the spiffe signer."),
    option("--enable-pod-identity-signer", is_flag=True),
    option("--pod-identity-ca-pool", type=PATH, help="CA pool file of the pod-identity signer."),
    option("--signer-domain", default="row-major.net", show_default=True),
    option(
        "--accepted-key-types",
        default="",
        help="Comma-separated key types to accept (default: all six).",
    ),
    option("--workers", type=int, default=16, show_default=True),
    option(
        "--identity-mismatch-grace",
        type=float,
        default=30.0,
        show_default=True,
        help="Seconds a pod/service account/node UID mismatch may last before it is denied.",
    ),
    option("--kube-api-qps", type=float, default=300.0, show_default=True),
    option("--kube-api-burst", type=int, default=600, show_default=True),
    option("--health-address", default=":8080", show_default=True, help="'' disables it."),
    option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True),
    option("--log-level", type=click.Choice(["debug", "info", "warning"]), default="info"),
]


def sharding_identity(params: dict[str, Any]) -> Identity | None:
    parts = [params["sharding_pod_namespace"], params["sharding_pod_name"]]
    if not any(parts):
        return None
    if not all(parts):
        raise click.UsageError("--sharding-pod-namespace and --sharding-pod-name go together")
    return Identity(
        namespace=parts[0],
        pod_name=parts[1],
        pod_uid=params["sharding_pod_uid"] or "",
        application=params["sharding_application_name"],
    )


def key_types(value: str) -> tuple[str, ...]:
    allowed = {"RSA3072", "RSA4096", "ECDSAP256", "ECDSAP384", "ECDSAP521", "ED25519"}
    chosen = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [v for v in chosen if v not in allowed]
    if bad:
        raise click.UsageError(f"--accepted-key-types: unknown {bad[0]!r}; use {sorted(allowed)}")
    return chosen


def settings_from(params: dict[str, Any]) -> ControllerSettings:
    def signer(name: str) -> SignerSettings:
        return SignerSettings(
            enabled=params[f"enable_{name}_signer"], pool_file=params[f"{name}_ca_pool"]
        )

    return ControllerSettings(
        kubeconfig=params["kubeconfig"],
        in_cluster=params["in_cluster"],
        sharding=sharding_identity(params),
        signer_domain=params["signer_domain"],
        service_dns=signer("service_dns"),
        spiffe=signer("spiffe"),
        pod_identity=signer("pod_identity"),
        spiffe_trust_domain=params["spiffe_trust_domain"],
        accepted_key_types=key_types(params["accepted_key_types"]),
        workers=params["workers"],
        identity_mismatch_grace=params["identity_mismatch_grace"],
        kube_api_qps=params["kube_api_qps"],
        kube_api_burst=params["kube_api_burst"],
        health_address=params["health_address"] or None,
        log_format=params["log_format"],
    )


def run_loop(coro: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed (a leaner event loop for many small requests)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
    else:
        uvloop.run(coro)


def controller(**params: Any) -> None:
    """Run the Pod Certificate signer controller."""
    settings = settings_from(params)
    problem = settings.validate()
    if problem:
        raise click.UsageError(problem)
    logs.configure(settings.log_format, params["log_level"])
    try:
        with contextlib.suppress(KeyboardInterrupt):
            run_loop(main.run(settings))
    except main.StartupError as exc:
        raise click.ClickException(str(exc)) from exc


for _decorate in reversed(OPTIONS):
    controller = _decorate(controller)

COMMANDS: list[click.Command] = [click.command("controller")(controller)]
