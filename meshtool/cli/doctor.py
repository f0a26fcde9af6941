"""`meshtool doctor`: a preflight and health report of a cluster for meshtool's controller.

Flags say what to examine (`meshtool.doctor.target.Target`; defaults from controller-manifests/)
and are checked before any network call; the report is `meshtool.doctor`'s, one line per
finding (or `--output json`). Exit codes: 0 all ok, 1 something fails, 3 warnings only
(2 is a usage error). The kubeconfig is chosen as for the other commands: `--kubeconfig` or
`MESHTOOL_KUBECONFIG`, else `$KUBECONFIG`, else ~/.kube/config; `--context` picks a context.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys

import click

from meshtool import clock
from meshtool.cli.ca import parse_duration
from meshtool.cli.flags import CommaList
from meshtool.cli.options import option
from meshtool.doctor import findings, observe, report, target
from meshtool.doctor.findings import Finding
from meshtool.kube import config
from meshtool.kube.client import KubeClient
from meshtool.signers import names


class _Duration(click.ParamType):  # type: ignore[type-arg]
    """Like `meshtool ca`'s durations, and also 0 ("any at all")."""

    name = "duration"

    def convert(self, value: object, param: object, ctx: object) -> dt.timedelta:
        if isinstance(value, dt.timedelta):
            return value
        text = str(value).strip()
        return dt.timedelta(0) if text.rstrip("dhms") == "0" else parse_duration(text)


@click.command("doctor")
@option("--kubeconfig", type=click.Path(dir_okay=False), help="Kubeconfig file.")
@option("--context", help="Kubeconfig context [default: current-context].")
@option(
    "--namespace", default=target.NAMESPACE, show_default=True, help="The controller's namespace."
)
@option(
    "--service-account",
    default=target.SERVICE_ACCOUNT,
    show_default=True,
    help="The controller's ServiceAccount.",
)
@option(
    "--signer-domain",
    default=names.DEFAULT_DOMAIN,
    show_default=True,
    help="Domain of the signer names.",
)
@option(
    "--signers",
    type=CommaList(),
    default=",".join(target.SIGNERS),
    show_default=True,
    help="Comma-separated enabled signers.",
)
@option(
    "--pool-secret",
    multiple=True,
    metavar="SIGNER=NAMESPACE/NAME",
    help="A signer's pool Secret [default: NAMESPACE/<signer>-ca-pool].",
)
@option(
    "--sharding-application-name",
    default=target.APPLICATION,
    show_default=True,
    help="The replicas' application name (their Leases' label).",
)
@option(
    "--pending-warn-after",
    type=_Duration(),
    default="2m",
    show_default=True,
    help="Warn when a request has been pending this long.",
)
@option(
    "--pending-fail-after",
    type=_Duration(),
    default="10m",
    show_default=True,
    help="Fail when a request has been pending this long.",
)
@option(
    "--window",
    type=_Duration(),
    default="1h",
    show_default=True,
    help="How far back denials and Warning Events count.",
)
@option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Report format.",
)
def doctor(kubeconfig: str | None, context: str | None, output: str, **flags: object) -> None:
    """Check a cluster for meshtool: APIs, RBAC, CA pools, trust bundles, replicas, requests."""
    examined = _target(**flags)  # type: ignore[arg-type]
    found, cluster = asyncio.run(_run(kubeconfig, context, examined))
    if output == "json":
        click.echo(findings.as_json(found, cluster=cluster))
    else:
        click.echo(f"meshtool doctor: {cluster}, controller {examined.account}")
        for line in findings.render(found):
            click.echo(line)
        click.echo(f"{findings.summary(found)}")
    sys.exit(findings.exit_code(found))


def _target(
    *,
    namespace: str,
    service_account: str,
    signer_domain: str,
    signers: tuple[str, ...],
    pool_secret: tuple[str, ...],
    sharding_application_name: str,
    pending_warn_after: dt.timedelta,
    pending_fail_after: dt.timedelta,
    window: dt.timedelta,
) -> target.Target:
    unknown = [s for s in signers if s not in target.SIGNERS]
    if unknown or not signers:
        raise click.BadParameter(f"use some of {', '.join(target.SIGNERS)}", param_hint="--signers")
    try:
        names.validate_domain(signer_domain)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--signer-domain") from None
    if pending_warn_after > pending_fail_after:
        raise click.BadParameter(
            "must not exceed --pending-fail-after", param_hint="--pending-warn-after"
        )
    return target.Target(
        namespace=namespace,
        service_account=service_account,
        signer_domain=signer_domain,
        signers=signers,
        pool_secrets=dict(_pool_secret(text, signers) for text in pool_secret),
        application=sharding_application_name,
        pending_warn=pending_warn_after,
        pending_fail=pending_fail_after,
        window=window,
    )


def _pool_secret(text: str, signers: tuple[str, ...]) -> tuple[str, tuple[str, str]]:
    short, _, where = text.partition("=")
    namespace, _, name = where.partition("/")
    if short not in signers or not (namespace and name):
        raise click.BadParameter(
            f"{text!r}: want SIGNER=NAMESPACE/NAME for an enabled signer",
            param_hint="--pool-secret",
        )
    return short, (namespace, name)


async def _run(
    kubeconfig: str | None, context: str | None, examined: target.Target
) -> tuple[list[Finding], str]:
    cluster = config.describe(kubeconfig, context)
    client = KubeClient.from_kubeconfig(kubeconfig, context=context)
    try:
        seen = await observe.observe(client, examined)
    except observe.Unreachable as exc:
        return [
            findings.fail(
                "api", "apiserver", str(exc), "check the kubeconfig's server and credentials"
            )
        ], cluster
    finally:
        await client.aclose()
    return report.diagnose(seen, examined, clock.SystemClock().now()), cluster


COMMANDS: list[click.Command] = [doctor]
