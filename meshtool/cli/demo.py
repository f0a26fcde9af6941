"""`meshtool demo-server` and `meshtool https-client`: the example workloads.

Both take their files from the kubelet's projected volumes and follow them as they are
rotated: a SPIFFE credential folder (`--credential-folder`, else `$SPIFFE_CREDENTIAL_FOLDER`,
else the well-known folders: `meshtool.workload.folder`), or separate files (a `podCertificate`
credential bundle, a `clusterTrustBundle` file). The example manifests run them with exactly
these flags; every flag can also be set as `MESHTOOL_<FLAG>`.

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
from meshtool.demo import client, server
from meshtool.signers import spiffeid
from meshtool.signers.spiffe import DEFAULT_TRUST_DOMAIN
from meshtool.workload import folder, svid

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
log = logging.getLogger("meshtool.demo")


def parse_listen(text: str) -> tuple[str, int]:
    """`ADDR:PORT`, `[V6ADDR]:PORT` or `:PORT` (all interfaces)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise click.BadParameter(f"{text!r} is not ADDR:PORT", param_hint="'--listen'")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _trust_domain(_ctx: click.Context, _param: click.Parameter, value: object) -> object:
    values = value if isinstance(value, tuple) else () if value is None else (value,)
    for text in values:
        try:
            spiffeid.validate_trust_domain(str(text))
        except spiffeid.InvalidSpiffeId as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def discover_folder(explicit: str | None) -> str:
    """`--credential-folder`, else the folder SPIFFE filesystem delivery names."""
    try:
        return folder.discover(explicit, environ=os.environ)
    except folder.FolderError as exc:
        raise click.UsageError(str(exc)) from None


_FOLDER = option(
    "--credential-folder",
    type=click.Path(file_okay=False),
    help="SPIFFE credential folder: credential-bundle.pem and <td>.spiffe-trust-bundle.pem files"
    " (default: $SPIFFE_CREDENTIAL_FOLDER, then /run/secrets/workload-spiffe-credentials).",
)


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
            svid.parse_id(str(text))
        except svid.PeerRejected as exc:
            raise click.BadParameter(str(exc)) from None
    return value


@click.command("demo-server")
@option("--listen", default=":8443", show_default=True, help="ADDR:PORT to serve HTTPS on.")
@option(
    "--server-creds",
    type=click.Path(dir_okay=False),
    help="Credential bundle (PKCS#8 key, then chain) as a podCertificate projection writes it"
    " (instead of a credential folder).",
)
@_FOLDER
@option(
    "--enable-spiffe-client-support",
    is_flag=True,
    help="Request client certificates and serve /spiffe-echo.",
)
@option(
    "--spiffe-trust-bundle",
    type=click.Path(dir_okay=False),
    help="CA certificates that SPIFFE client certificates must chain to (with --server-creds).",
)
@option(
    "--spiffe-trust-domain",
    default=DEFAULT_TRUST_DOMAIN,
    show_default=True,
    callback=_trust_domain,
    help="Trust domain of --spiffe-trust-bundle.",
)
@option(
    "--allowed-client-id",
    multiple=True,
    callback=_spiffe_ids,
    help="A SPIFFE ID allowed to call /spiffe-echo, in any trust domain with a bundle"
    " (repeatable; default: anyone in our trust domain).",
)
@option(
    "--allowed-client-trust-domain",
    multiple=True,
    callback=_trust_domain,
    help="A trust domain whose workloads may call /spiffe-echo (repeatable).",
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
    server_creds: str | None,
    credential_folder: str | None,
    enable_spiffe_client_support: bool,
    spiffe_trust_bundle: str | None,
    spiffe_trust_domain: str,
    allowed_client_id: tuple[str, ...],
    allowed_client_trust_domain: tuple[str, ...],
    reload_interval: float,
) -> None:
    """HTTPS server with /healthz and /spiffe-echo that follows rotated credentials."""
    _check_server_flags(
        server_creds, credential_folder, enable_spiffe_client_support, spiffe_trust_bundle
    )
    if (allowed_client_id or allowed_client_trust_domain) and not enable_spiffe_client_support:
        raise click.UsageError("--allowed-client-id needs --enable-spiffe-client-support")
    address = parse_listen(listen)
    logging.basicConfig(level=logging.INFO, format=_LOG_FORMAT)
    settings = server.ServerSettings(
        listen=address,
        server_creds=server_creds,
        spiffe_trust_bundle=spiffe_trust_bundle,
        spiffe_trust_domain=spiffe_trust_domain,
        credential_folder=None if server_creds else discover_folder(credential_folder),
        enable_spiffe_client_support=enable_spiffe_client_support,
        allowed_client_ids=frozenset(allowed_client_id),
        allowed_client_trust_domains=frozenset(allowed_client_trust_domain),
        reload_interval=reload_interval,
    )
    with stop_on_sigterm():
        server.run(settings)


def _check_server_flags(
    server_creds: str | None, credential_folder: str | None, enable: bool, bundle: str | None
) -> None:
    if server_creds and credential_folder:
        raise click.UsageError("--server-creds and --credential-folder exclude each other")
    if server_creds and enable != (bundle is not None):
        raise click.UsageError(
            "--enable-spiffe-client-support and --spiffe-trust-bundle go together"
        )
    if not server_creds and bundle is not None:
        raise click.UsageError("--spiffe-trust-bundle needs --server-creds")


@click.command("https-client")
@option("--fetch-url", required=True, callback=_https_url, help="https:// URL to GET.")
@option(
    "--server-trust-bundle",
    type=click.Path(dir_okay=False),
    help="CA certificates the server's chain must lead to (instead of a credential folder).",
)
@option(
    "--client-cred-bundle",
    type=click.Path(dir_okay=False),
    help="Credential bundle to present as the client certificate (with --server-trust-bundle).",
)
@_FOLDER
@option(
    "--server-spiffe-id",
    callback=_spiffe_ids,
    help="Verify the server by this SPIFFE ID instead of by host name, against the bundle of its"
    " trust domain (needed with a credential folder).",
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
    server_trust_bundle: str | None,
    client_cred_bundle: str | None,
    credential_folder: str | None,
    server_spiffe_id: str | None,
    interval: float,
    count: int | None,
    connect_to: client.ConnectTo | None,
) -> None:
    """Poll an HTTPS URL, logging each response's status and first line."""
    if server_trust_bundle and credential_folder:
        raise click.UsageError("--server-trust-bundle and --credential-folder exclude each other")
    if client_cred_bundle and not server_trust_bundle:
        raise click.UsageError("--client-cred-bundle needs --server-trust-bundle")
    if not server_trust_bundle and not server_spiffe_id:
        raise click.UsageError("a credential folder needs --server-spiffe-id")
    logging.basicConfig(level=logging.INFO, format=_LOG_FORMAT)
    settings = client.ClientSettings(
        fetch_url=fetch_url,
        server_trust_bundle=server_trust_bundle,
        client_cred_bundle=client_cred_bundle,
        credential_folder=None if server_trust_bundle else discover_folder(credential_folder),
        server_spiffe_id=server_spiffe_id,
        interval=interval,
        count=count,
        connect_to=connect_to,
    )
    with stop_on_sigterm():
        status = client.run(settings, sleep=time.sleep)
    sys.exit(status)


COMMANDS: list[click.Command] = [demo_server, https_client]
