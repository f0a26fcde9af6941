"""`meshtool ca`: see and change a CA pool's lifecycle, in its Secret or (`--file`) a file.

`status` lists every CA (id, key type, subject, validity, role and since when, which published
ClusterTrustBundles carry its root) and the pool's warnings (`meshtool.pki.expiry`). `prepare`
adds a new CA as prepared (optionally an intermediate of a root kept offline in
`--parent-pool`, optionally with name constraints); `activate`, `retire` and `remove` are the
`meshtool.pki.lifecycle` transitions; `rotate` prepares a successor now and leaves activation
to the controller, which activates it once that is safe.

Every change goes through `poolstore.update`: the Secret is replaced with the resourceVersion
it was read at, and on a 409 re-read and the transition re-applied, so a concurrent writer's CA
is never lost. `activate` of a Secret pool refuses while the published bundles do not carry the
CA (a leaf must never be signed by a CA verifiers do not trust yet) unless `--force`.
Key material is never printed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import click

from meshtool import clock
from meshtool.cli import options
from meshtool.cli.castatus import published, status_lines
from meshtool.controllers import poolstore
from meshtool.kube.client import KubeClient
from meshtool.pki import capool, constraints, expiry, lifecycle
from meshtool.pki.capool import CAPool

_T = TypeVar("_T")
_DURATION = re.compile(r"^(\d+)([dhms]?)$")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}


def parse_duration(text: str) -> dt.timedelta:
    """`365d`, `12h`, `30m`, `90s` or plain seconds."""
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise click.BadParameter(f"{text!r}: expected a duration like 365d, 12h, 30m or 90s")
    return dt.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


class Duration(click.ParamType):  # type: ignore[type-arg]
    name = "duration"

    def convert(self, value: object, param: object, ctx: object) -> dt.timedelta:
        return value if isinstance(value, dt.timedelta) else parse_duration(str(value))


@dataclass(frozen=True, slots=True)
class Target:
    file: str | None
    namespace: str | None
    name: str | None
    kubeconfig: str | None
    context: str | None

    def run(self, action: Callable[[poolstore.PoolStore, KubeClient | None], Awaitable[_T]]) -> _T:
        return asyncio.run(self._run(action))

    async def _run(
        self, action: Callable[[poolstore.PoolStore, KubeClient | None], Awaitable[_T]]
    ) -> _T:
        system = clock.SystemClock()
        if self.file is not None:
            return await action(
                poolstore.FileStore(Path(self.file), clock=system, allow_expired=True), None
            )
        if not (self.namespace and self.name):
            raise click.UsageError("give --namespace and --name of the pool Secret, or --file")
        client = KubeClient.from_kubeconfig(self.kubeconfig, context=self.context)
        try:
            store = poolstore.SecretStore(
                client, self.namespace, self.name, clock=system, allow_expired=True
            )
            return await action(store, client)
        finally:
            await client.aclose()


@click.group("ca")
@click.option(
    "--file", type=click.Path(dir_okay=False), help="A pool JSON file instead of a Secret."
)
@click.option("--namespace", help="Namespace of the pool Secret.")
@click.option("--name", help="Name of the pool Secret.")
@options.KUBECONFIG
@options.CONTEXT
@click.pass_context
def ca_group(
    ctx: click.Context,
    file: str | None,
    namespace: str | None,
    name: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    """See and change a CA pool's lifecycle (prepare, activate, retire, remove, rotate)."""
    ctx.obj = Target(file, namespace, name, kubeconfig, context)


Action = Callable[[poolstore.PoolStore, KubeClient | None], Awaitable[None]]


def _change(target: Target, transition: poolstore.Transition, done: str) -> None:
    async def change(store: poolstore.PoolStore, client: KubeClient | None) -> None:
        result = await poolstore.update(store, transition)
        click.echo(f"{store.where}: {done}; CAs now: {_summary(result.pool)}")

    _guarded(target, change)


def _guarded(target: Target, action: Action) -> None:
    try:
        target.run(action)
    except capool.CAPoolError as exc:
        raise click.ClickException(str(exc)) from None


def _summary(pool: CAPool) -> str:
    return ", ".join(f'"{ca.id}" {pool.role(ca)}' for ca in pool.cas)


def _now() -> dt.datetime:
    return clock.SystemClock().now()


def _options_prepare(f: Callable[..., None]) -> Callable[..., None]:
    for decorator in reversed(
        (
            click.option("--id", "ca_id", help="Id of the new CA [default: the next number]."),
            click.option(
                "--key-type", type=click.Choice(capool.KEY_TYPES), help="[default: the active CA's]"
            ),
            click.option(
                "--validity", type=Duration(), help="e.g. 365d [default: the active CA's lifetime]."
            ),
            click.option(
                "--parent-pool",
                type=click.Path(dir_okay=False, exists=True),
                help="Pool file of a root kept offline: the new CA is its intermediate.",
            ),
            click.option(
                "--dns-constraint",
                multiple=True,
                help="Permitted DNS subtree (critical name constraints), e.g. svc; repeatable.",
            ),
            click.option(
                "--uri-constraint",
                multiple=True,
                help="Permitted URI host, e.g. the SPIFFE trust domain; repeatable.",
            ),
        )
    ):
        f = decorator(f)
    return f


@dataclass(frozen=True, slots=True)
class NewCA:
    ca_id: str | None
    key_type: str | None
    validity: dt.timedelta | None
    parent_pool: str | None
    dns_constraint: tuple[str, ...]
    uri_constraint: tuple[str, ...]

    def transition(self) -> poolstore.Transition:
        """Prepare one new CA, made once: a re-apply after a conflict adds the same CA."""
        parent = None
        if self.parent_pool is not None:
            data = Path(self.parent_pool).read_bytes()
            parent = capool.load(data, clock=clock.SystemClock()).signing_ca
        names = constraints.build(dns=self.dns_constraint, uri_hosts=self.uri_constraint)
        for warning in constraints.warnings(names):
            click.echo(f"warning: {warning}", err=True)
        made: list[capool.CA] = []

        def transition(pool: CAPool) -> CAPool:
            if not made:
                made.append(
                    lifecycle.make_successor(
                        pool,
                        clock=clock.SystemClock(),
                        ca_id=self.ca_id,
                        key_type=self.key_type,
                        validity=self.validity,
                        parent=parent,
                        constraints=names,
                    )
                )
            return lifecycle.prepare(pool, made[0], _now())

        return transition


@ca_group.command("status")
@click.pass_obj
def status(target: Target) -> None:
    """Every CA of the pool, what the published bundles carry, and warnings."""

    async def show(store: poolstore.PoolStore, client: KubeClient | None) -> None:
        pool = (await store.read()).pool
        carried = await published(client, pool)
        now = clock.SystemClock().now()
        click.echo(f"CA pool in {store.where}: {len(pool.cas)} CA(s)")
        for line in status_lines(pool, now, carried):
            click.echo(line)
        ids = frozenset(i for i, names in carried.items() if names) if carried else None
        for _, message in expiry.warnings(pool, now, published=ids):
            click.echo(f"warning: {message}")

    target.run(show)


@ca_group.command("prepare")
@_options_prepare
@click.pass_obj
def prepare(target: Target, /, **options: object) -> None:
    """Add a new CA as prepared: trusted and published, not signing yet."""
    _change(target, NewCA(**options).transition(), "prepared a new CA")  # type: ignore[arg-type]


@ca_group.command("rotate")
@_options_prepare
@click.pass_obj
def rotate(target: Target, /, **options: object) -> None:
    """Prepare a successor now; the controller activates it once that is safe."""
    _change(
        target,
        NewCA(**options).transition(),  # type: ignore[arg-type]
        "prepared a successor; the controller activates it once every replica has loaded it "
        "and the bundles have carried it for the propagation delay",
    )


@ca_group.command("activate")
@click.argument("ca_id")
@click.option("--force", is_flag=True, help="Activate even if no published bundle carries it.")
@click.pass_obj
def activate(target: Target, ca_id: str, force: bool) -> None:
    """Make a prepared CA the signing one; the previous active CA is retired."""

    async def change(store: poolstore.PoolStore, client: KubeClient | None) -> None:
        carried = await published(client, (await store.read()).pool)
        if carried is not None and not carried.get(ca_id) and not force:
            raise click.ClickException(
                f'CA "{ca_id}" is in no published ClusterTrustBundle yet; leaves it signed would '
                "not verify. Wait for the controller to publish it (or use --force)"
            )
        result = await poolstore.update(store, lambda pool: lifecycle.activate(pool, ca_id, _now()))
        click.echo(f'{store.where}: activated CA "{ca_id}"; CAs now: {_summary(result.pool)}')

    _guarded(target, change)


@ca_group.command("retire")
@click.argument("ca_id")
@click.pass_obj
def retire(target: Target, ca_id: str) -> None:
    """Retire a prepared CA: still trusted until removed, never signing."""
    _change(target, lambda pool: lifecycle.retire(pool, ca_id, _now()), f'retired CA "{ca_id}"')


@ca_group.command("remove")
@click.argument("ca_id")
@click.option("--force", is_flag=True, help="Remove even while leaves it signed may be valid.")
@click.pass_obj
def remove(target: Target, ca_id: str, force: bool) -> None:
    """Remove a CA that is no longer trusted by any valid leaf."""
    _change(
        target,
        lambda pool: lifecycle.remove(pool, ca_id, _now(), force=force),
        f'removed CA "{ca_id}"',
    )


COMMANDS: list[click.Command] = [ca_group]
