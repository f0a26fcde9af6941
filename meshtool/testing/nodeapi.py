"""The simulator's stateless requests to kube-apiserver, all made as the node.

Discovery (which PodCertificateRequest / ClusterTrustBundle versions are served, and the server's
minor version, which decides the v1beta1 key form; `choose_versions` settles all three),
registering the node's own Node object (NodeRestriction lets a node create exactly that one;
AlreadyExists is fine), the informers of what a node watches (its pods, its Node, the PCRs
for it, every ClusterTrustBundle), the body of the PodCertificateRequest for one pod's source
(the pod's ServiceAccount is read for its UID), and the Warning Event a kubelet posts on a pod whose
request was Denied or Failed. Posting events is best
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
from meshtool.runtime.informer import Informer
from meshtool.testing import pcrforms
from meshtool.testing.pcrforms import KeyForm
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


async def choose_versions(
    client: KubeClient, pcr_version: str | None, key_form: KeyForm | None
) -> tuple[str, str | None, KeyForm]:
    """(PCR version, CTB version or None, key form): the given ones, else the newest served and
    the form this server release's kubelet writes. Refuses a form the PCR version lacks."""
    pcr_served = await served_versions(client, "podcertificaterequests")
    ctb_served = await served_versions(client, "clustertrustbundles")
    if pcr_version is None:
        if not pcr_served:
            raise RuntimeError("the server serves no PodCertificateRequest version")
        pcr_version = pcr_served[0]
    if key_form is None:
        key_form = pcrforms.default_form(pcr_version, await server_minor(client))
    pcrforms.check_form(key_form, pcr_version)
    return pcr_version, ctb_served[0] if ctb_served else None, key_form


def informers(
    client: KubeClient, node: str, pcr_version: str, ctb_version: str | None
) -> dict[str, Informer[JSON]]:
    """What the node watches: "pods", "node", "pcrs" and, when served, "ctbs"."""
    on_node = f"spec.nodeName={node}"
    made = {
        "pods": Informer(client, resources.PODS, transform=_keep, field_selector=on_node),
        "node": Informer(
            client, resources.NODES, transform=_keep, field_selector=f"metadata.name={node}"
        ),
        "pcrs": Informer(
            client,
            resources.pod_certificate_requests(pcr_version),
            transform=_keep,
            field_selector=on_node,
        ),
    }
    if ctb_version is not None:
        ctbs = resources.cluster_trust_bundles(ctb_version)
        made["ctbs"] = Informer(client, ctbs, transform=_keep)
    return made


async def pcr_body(
    client: KubeClient,
    pod: JSON,
    source: Mapping[str, Any],
    key: pcrforms.PrivateKey,
    *,
    node: JSON | None,
    node_name: str,
    version: str,
    form: KeyForm,
) -> JSON:
    """The PCR a kubelet would create for `source` of `pod` (reads the pod's ServiceAccount for
    its UID); NotFound when the SA is missing or `node`, the node's cached Node, is None."""
    namespace = pod["metadata"]["namespace"]
    sa_name = pod["spec"].get("serviceAccountName") or "default"
    sa = await client.get(resources.SERVICE_ACCOUNTS, sa_name, namespace=namespace)
    if node is None:
        raise errors.NotFound(404, {"message": f"node {node_name} not in cache"})
    return pcrforms.pcr_body(
        form,
        pcrforms.target_for(pod, sa, node),
        version=version,
        signer_name=source["signerName"],
        key=key,
        max_expiration_seconds=source.get("maxExpirationSeconds"),
        user_annotations=source.get("userAnnotations"),
    )


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


def _keep(obj: JSON) -> JSON:
    return obj
