"""`meshtool demo-server` and `meshtool https-client`: the example workloads.

Both take their files from the kubelet's projected volumes (a `podCertificate` credential
bundle, `clusterTrustBundle` files) and follow them as they are rotated. The example manifests
run them with exactly these flags; every flag can also be set as `MESHTOOL_<FLAG>`.

Flags are checked before anything is opened or dialled: a malformed `--listen`, a bad
`--spiffe-trust-domain` or a `--fetch-url` that is not an https:// URL with a host ends at once
with one line naming the flag. In their containers both run as PID 1, which the kernel shields
from signals that have no handler, so each installs a SIGTERM handler: deleting the pod stops
it at once instead of after the whole grace period.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from types import FrameType
from urllib.parse import urlsplit

import click

from meshtool.cli.options import option
from meshtool.demo import client, server, spiffe
from meshtool.signers import spiffeid
from meshtool.signers.spiffe import DEFAULT_TRUST_DOMAIN

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
log = logging.getLogger("meshtool.demo")


def parse_listen(text: str) -> tuple[str, int]:
    """`ADDR:PORT`, `[V6ADDR]:PORT` or `:PORT` (all interfaces)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise click.BadParameter(f"{text!r} is not ADDR:PORT", param_hint="'--listen'")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _trust_domain(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        spiffeid.validate_trust_domain(value)
    except spiffeid.InvalidSpiffeId as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _https_url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        url = urlsplit(value)
        url.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc}") from None
    if url.scheme != "https" or not url.hostname:
        raise click.BadParameter(f"{value!r} is not an https:// URL with a host")
    return value


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Exit (status 0) on SIGTERM, which PID 1 would otherwise not even receive."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(signum: int, _frame: FrameType | None) -> None:
    """Log, flush and leave at once: the kernel closes the sockets, and there is nothing else
    to clean up, whereas tearing down the interpreter can take a second on a busy node."""
    log.info("%s received; stopping", signal.Signals(signum).name)
    logging.shutdown()
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    os._exit(0)


def _connect_to(_ctx: click.Context, _param: click.Parameter, value: str | None) -> object:
    try:
        return client.ConnectTo.parse(value) if value else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _spiffe_ids(_ctx: click.Context, _param: click.Parameter, value: object) -> object:
    values = value if isinstance(value, tuple) else () if value is None else (value,)
    for text in values:
        try:
            spiffe.parse_id(str(text))
        except spiffe.PeerRejected as exc:
            raise click.BadParameter(str(exc)) from None
    return value


@click.command("demo-server")
@option("--listen", default=":8443", show_default=True, help="ADDR:PORT to serve HTTPS on.")
@option(
    "--server-creds",
    required=True,
    type=click.Path(dir_okay=False),
    help="Credential bundle (PKCS#8 key, then chain) as a podCertificate projection writes it.",
)
@option(
    "--enable-spiffe-client-support",
    is_flag=True,
    help="Request client certificates and serve /spiffe-echo.",
)
@option(
    "--spiffe-trust-bundle",
    type=click.Path(dir_okay=False),
    help="CA certificates that SPIFFE client certificates must chain to.",
)
@option(
    "--spiffe-trust-domain",
    default=DEFAULT_TRUST_DOMAIN,
    show_default=True,
    callback=_trust_domain,
    help="Trust domain of the SPIFFE trust bundle; clients must be in it.",
)
@option(
    "--allowed-client-id",
    multiple=True,
    callback=_spiffe_ids,
    help="A SPIFFE ID allowed to call /spiffe-echo (repeatable; default: any in the domain).",
)
@option(
    "--reload-interval",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between checks of the certificate files.",
)
def demo_server(
    listen: str,
    server_creds: str,
    enable_spiffe_client_support: bool,
    spiffe_trust_bundle: str | None,
    spiffe_trust_domain: str,
    allowed_client_id: tuple[str, ...],
    reload_interval: float,
) -> None:
    """HTTPS server with /healthz and /spiffe-echo that follows rotated credentials."""
    if enable_spiffe_client_support != (spiffe_trust_bundle is not None):
        raise click.UsageError(
            "--enable-spiffe-client-support and --spiffe-trust-bundle go together"
        )
    if allowed_client_id and not enable_spiffe_client_support:
        raise click.UsageError("--allowed-client-id needs --enable-spiffe-client-support")
    address = parse_listen(listen)
    logging.basicConfig(level=logging.INFO, format=_LOG_FORMAT)
    settings = server.ServerSettings(
        listen=address,
        server_creds=server_creds,
        spiffe_trust_bundle=spiffe_trust_bundle,
        spiffe_trust_domain=spiffe_trust_domain,
        allowed_client_ids=frozenset(allowed_client_id),
        reload_interval=reload_interval,
    )
    with stop_on_sigterm():
        server.run(settings)


@click.command("https-client")
@option("--fetch-url", required=True, callback=_https_url, help="https:// URL to GET.")
@option(
    "--server-trust-bundle",
    required=True,
    type=click.Path(dir_okay=False),
    help="CA certificates the server's chain must lead to.",
)
@option(
    "--client-cred-bundle",
    type=click.Path(dir_okay=False),
    help="Credential bundle to present as the client certificate.",
)
@option(
    "--server-spiffe-id",
    callback=_spiffe_ids,
    help="Verify the server by this SPIFFE ID instead of by host name.",
)
@option(
    "--interval",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Seconds between requests.",
)
@option(
    "--count",
    type=click.IntRange(min=1),
    help="Make this many requests, then exit non-zero if any failed (default: forever).",
)
@option(
    "--connect-to",
    callback=_connect_to,
    help="HOST:PORT:ADDR:PORT, as in curl: dial ADDR:PORT for HOST:PORT.",
)
def https_client(
    fetch_url: str,
    server_trust_bundle: str,
    client_cred_bundle: str | None,
    server_spiffe_id: str | None,
    interval: float,
    count: int | None,
    connect_to: client.ConnectTo | None,
) -> None:
    """Poll an HTTPS URL, logging each response's status and first line."""
    logging.basicConfig(level=logging.INFO, format=_LOG_FORMAT)
    settings = client.ClientSettings(
        fetch_url=fetch_url,
        server_trust_bundle=server_trust_bundle,
        client_cred_bundle=client_cred_bundle,
        server_spiffe_id=server_spiffe_id,
        interval=interval,
        count=count,
        connect_to=connect_to,
    )
    with stop_on_sigterm():
        status = client.run(settings, sleep=time.sleep)
    sys.exit(status)


COMMANDS: list[click.Command] = [demo_server, https_client]
