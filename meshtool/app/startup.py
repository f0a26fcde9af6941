"""Before the controller runs: connect to the cluster and learn which API versions to speak.

`connect` builds the one `KubeClient` from the settings (in-cluster or a kubeconfig, with the
client-side rate limit). `discover` asks the apiserver which certificates.k8s.io versions serve
PodCertificateRequests and ClusterTrustBundles, picks the newest of each, and says whether
v1beta1 PCRs are served next to v1 (so a pre-1.36 kubelet's request can be read with its key).
When either resource is not served it raises `StartupError` with the feature gate and
`--runtime-config` the cluster needs: one line for the operator, and the controller exits.
"""

from __future__ import annotations

from meshtool.api import versions
from meshtool.app.settings import ControllerSettings
from meshtool.kube.client import KubeClient


class StartupError(Exception):
    """A problem that stops the controller at start: one line for the operator."""


async def discover(client: KubeClient) -> tuple[str, str, bool]:
    """The PCR and CTB versions to use, and whether v1beta1 PCRs are served next to v1 (so
    legacy requests from pre-1.36 kubelets can be read with their key)."""
    served: dict[str, set[str]] = {}
    for version in versions.PREFERENCE:
        found = await client.served_resources(f"certificates.k8s.io/{version}")
        served[version] = found or set()
    pcrs = versions.choose(served, versions.PODCERTIFICATEREQUESTS)
    ctbs = versions.choose(served, versions.CLUSTERTRUSTBUNDLES)
    if pcrs is None:
        raise StartupError(versions.not_served_message(versions.PODCERTIFICATEREQUESTS))
    if ctbs is None:
        raise StartupError(versions.not_served_message(versions.CLUSTERTRUSTBUNDLES))
    legacy = versions.legacy_key_view(served, pcrs)
    return pcrs, ctbs, legacy


def connect(settings: ControllerSettings) -> KubeClient:
    qps, burst = settings.kube_api_qps, settings.kube_api_burst
    if settings.in_cluster:
        return KubeClient.in_cluster(qps=qps, burst=burst)
    return KubeClient.from_kubeconfig(settings.kubeconfig, qps=qps, burst=burst)
