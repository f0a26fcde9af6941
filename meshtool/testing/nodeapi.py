"""The simulator's stateless requests to kube-apiserver, all made as the node.

Discovery (which PodCertificateRequest / ClusterTrustBundle versions are served, and the server's
minor version, which decides the v1beta1 key form), registering the node's own Node object
(NodeRestriction lets a node create exactly that one; AlreadyExists is fine), and the Warning
Event a kubelet posts on a pod whose request was Denied or Failed. Posting events is best
effort: a failure is logged, never raised, as for the kubelet's event recorder.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from typing import Any

from meshtool.api import wire
from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient
from meshtool.testing import pcrforms
from meshtool.testing.podcerts import Condition

JSON = dict[str, Any]
log = logging.getLogger(__name__)


async def register_node(client: KubeClient, name: str) -> None:
    body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
    try:
        await client.create(resources.NODES, body)
    except errors.Conflict as exc:
        if not exc.already_exists:
            raise


async def served_versions(client: KubeClient, plural: str) -> list[str]:
    """The certificates.k8s.io versions serving `plural`, newest first."""
    found = []
    for version in pcrforms.VERSIONS_NEWEST_FIRST:
        served = await client.served_resources(f"{pcrforms.GROUP}/{version}")
        if served and plural in served:
            found.append(version)
    return found


async def server_minor(client: KubeClient) -> int | None:
    info = await client.get_path("/version")
    match = re.match(r"\d+", str(info.get("minor", "")))
    return int(match.group()) if match else None


async def post_warning(
    client: KubeClient, pod: Mapping[str, Any], condition: Condition, *, node: str, now: dt.datetime
) -> None:
    body = warning_event(pod, condition, node=node, now=now)
    try:
        await client.create(resources.EVENTS, body, namespace=body["metadata"]["namespace"])
    except errors.KubeError as exc:
        log.info("could not post %s event: %s", condition.type, exc)


def warning_event(
    pod: Mapping[str, Any], condition: Condition, *, node: str, now: dt.datetime
) -> JSON:
    """An events.k8s.io/v1 Warning about a refused PCR, shaped like the kubelet's."""
    meta = pod["metadata"]
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "eventTime": wire.format_micro_time(now),
        "type": "Warning",
        "reason": condition.type,
        "note": f"{condition.reason}: {condition.message}"[:1024],
        "action": "PodCertificateRequest",
        "reportingController": "kubelet",
        "reportingInstance": node,
        "regarding": {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
        },
    }
