"""`meshtool make-ca-pool-secret`: create a signer's CA pool.

It generates a fresh self-signed root CA (Ed25519 by default) and stores the pool JSON
(`meshtool.pki.capool`) either in a new Opaque Secret under the data key `pool`, or, with
`--output`, in a new file readable only by its owner (no cluster needed). It never replaces an
existing Secret or file: that would throw away the CA every issued certificate chains to. The
file is written atomically (`meshtool.files`), so a failed write (a full disk) leaves no file
and the next try works. The cluster is chosen as the controller's is: `--kubeconfig` (or
`MESHTOOL_KUBECONFIG`, else `$KUBECONFIG`, else ~/.kube/config) and `--context` (or
`MESHTOOL_CONTEXT`, else the current-context). The summary names what was created and, for a
Secret, the kubeconfig context and the apiserver URL it went to; key material is never printed.
`--validity` sets the CA lifetime; `--dns-constraint`/`--uri-constraint` opt the pool into name
constraints (successors made by rotation copy them).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt

import click

from meshtool import clock, files
from meshtool.cli import options
from meshtool.cli.ca import Duration
from meshtool.kube import client as kube_client
from meshtool.kube import config, errors, resources
from meshtool.pki import capool, constraints, keys


@click.command("make-ca-pool-secret")
@click.option("--namespace", help="Namespace of the Secret (needed unless --output is given).")
@click.option("--name", required=True, help="Name of the Secret.")
@click.option("--ca-id", required=True, help='Id of the new CA within the pool, e.g. "1".')
@click.option(
    "--key-type",
    type=click.Choice(capool.KEY_TYPES),
    default="ed25519",
    show_default=True,
    help="CA key type.",
)
@click.option("--validity", type=Duration(), default="365d", show_default=True, help="CA lifetime.")
@click.option("--dns-constraint", multiple=True, help="Permitted DNS subtree, e.g. svc.")
@click.option("--uri-constraint", multiple=True, help="Permitted URI host (trust domain).")
@options.KUBECONFIG
@options.CONTEXT
@click.option("--signer-name", help="Signer name for the CA subject CN [default: NAME].")
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help="Write the pool JSON to this new file (mode 0600) instead of creating a Secret.",
)
def make_ca_pool_secret(
    namespace: str | None,
    name: str,
    ca_id: str,
    key_type: str,
    validity: dt.timedelta,
    dns_constraint: tuple[str, ...],
    uri_constraint: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    signer_name: str | None,
    output: str | None,
) -> None:
    """Generate a CA pool and store it in a new Secret (or a file with --output)."""
    if output is None and not namespace:
        raise click.UsageError("--namespace is required unless --output is given")
    names = constraints.build(dns=dns_constraint, uri_hosts=uri_constraint)
    for warning in constraints.warnings(names):
        click.echo(f"warning: {warning}", err=True)
    ca = capool.generate_ca(
        ca_id=ca_id,
        name=signer_name or name,
        key_type=key_type,
        clock=clock.SystemClock(),
        validity=validity,
        constraints=names,
    )
    pool = capool.CAPool((ca,))
    data = capool.dump(pool)
    if output is not None:
        write_new_file(output, data)
        where = output
    else:
        assert namespace is not None
        asyncio.run(
            create_secret(
                kubeconfig=kubeconfig, context=context, namespace=namespace, name=name, data=data
            )
        )
        where = f"Secret {namespace}/{name} (key {capool.SECRET_KEY!r})"
    click.echo(f"created CA pool in {where}: {describe(pool.signing_ca)}")
    if output is None:
        click.echo(f"  written to {cluster_of(kubeconfig, context)}")


def cluster_of(kubeconfig: str | None, context: str | None) -> str:
    """Which kubeconfig context and cluster a Secret went to, in words."""
    try:
        return config.describe(kubeconfig, context)
    except errors.KubeError:
        return f"the cluster of kubeconfig {kubeconfig or '(default)'}"


def describe(ca: capool.CA) -> str:
    subject = ca.root.subject.rfc4514_string()
    key_type = keys.describe(ca.signing_key)
    return f'CA "{ca.id}" ({key_type}, {subject}), valid until {ca.not_after.isoformat()}'


def write_new_file(path: str, data: bytes) -> None:
    """Write `data` to a file that must not exist yet, readable only by its owner."""
    try:
        files.write(path, data, replace=False, mode=0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} already exists; not overwriting it") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror}") from None


async def create_secret(
    *, kubeconfig: str | None, context: str | None = None, namespace: str, name: str, data: bytes
) -> None:
    """Create the Opaque Secret holding the pool; an existing Secret is left alone."""
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "type": "Opaque",
        "data": {capool.SECRET_KEY: base64.b64encode(data).decode("ascii")},
    }
    client = kube_client.KubeClient.from_kubeconfig(kubeconfig, context=context)
    try:
        await client.create(resources.SECRETS, body, namespace=namespace)
    except errors.Conflict as exc:
        if not exc.already_exists:
            raise
        raise click.ClickException(
            f"Secret {namespace}/{name} already exists; not overwriting it"
        ) from None
    finally:
        await client.aclose()


COMMANDS: list[click.Command] = [make_ca_pool_secret]
