"""What `meshtool ca status` shows: each CA's lines, and which published ClusterTrustBundles
carry its root (the CTB version is the newest the apiserver serves). Key material is never
printed."""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.serialization import Encoding

from meshtool import clock
from meshtool.api import trustbundle, versions
from meshtool.kube import resources
from meshtool.kube.client import KubeClient
from meshtool.pki import capool, keys
from meshtool.pki.capool import CAPool


async def published(client: KubeClient | None, pool: CAPool) -> dict[str, list[str]] | None:
    """CA id -> names of the ClusterTrustBundles carrying its root (None: not looked at)."""
    if client is None:
        return None
    served = {
        v: await client.served_resources(f"certificates.k8s.io/{v}") or set()
        for v in versions.PREFERENCE
    }
    version = versions.choose(served, versions.CLUSTERTRUSTBUNDLES)
    if version is None:
        return None
    bundles = await client.list(resources.cluster_trust_bundles(version))
    found: dict[str, list[str]] = {ca.id: [] for ca in pool.cas}
    for obj in bundles.items:
        bundle = trustbundle.parse(obj)
        ders = set(trustbundle.certificates_der(bundle.pem))
        for ca in pool.cas:
            if keys_der(ca) in ders:
                found[ca.id].append(bundle.name)
    return found


def keys_der(ca: capool.CA) -> bytes:
    return ca.root.public_bytes(Encoding.DER)


def status_lines(pool: CAPool, now: dt.datetime, carried: dict[str, list[str]] | None) -> list[str]:
    lines = []
    for ca in pool.cas:
        state = ca.state
        since = ""
        if state is not None:
            times = [
                ("prepared", state.prepared_at),
                ("published", state.published_at),
                ("activated", state.activated_at),
                ("retired", state.retired_at),
            ]
            since = "; ".join(f"{n} {clock.format_rfc3339(t)}" for n, t in times if t)
        role = f"{pool.role(ca)}{'' if state else ' (inferred)'}"
        lines.append(f'CA "{ca.id}": {role}{f" ({since})" if since else ""}')
        lines.append(f"  key:       {keys.describe(ca.signing_key)}")
        lines.append(f"  subject:   {ca.issuer_cert.subject.rfc4514_string() or '(empty)'}")
        if ca.intermediates:
            lines.append(f"  root:      {ca.root.subject.rfc4514_string() or '(empty)'} (offline)")
        mark = " EXPIRED" if ca.not_after <= now else ""
        lines.append(
            f"  validity:  {ca.not_before.isoformat()} .. {ca.not_after.isoformat()}{mark}"
        )
        if carried is not None:
            lines.append(f"  published: {', '.join(carried[ca.id]) or 'in no ClusterTrustBundle'}")
    return lines
