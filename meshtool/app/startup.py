"""Before the controller runs: connect to the cluster and learn which API versions to speak.

`connect` builds the one `KubeClient` from the settings (in-cluster or a kubeconfig, with the
client-side rate limit). `discover` asks the apiserver which certificates.k8s.io versions serve
PodCertificateRequests and ClusterTrustBundles, picks the newest of each, and says whether
v1beta1 PCRs are served next to v1 (so a pre-1.36 kubelet's request can be read with its key).
When either resource is not served it raises `StartupError` with the feature gate and
`--runtime-config` the cluster needs: one line for the operator, and the controller exits.

`cluster_issuer` resolves `--cluster-issuer` (`meshtool.api.issuer`): with `discover` it reads
kube-apiserver's OIDC discovery document, retrying transient trouble (no answer, 429, 5xx) a
bounded number of times with backoff on the injected clock; a refusal (403: the
`system:service-account-issuer-discovery` binding is missing) or a bad document is a
`StartupError` naming the fix. The issuer is logged once and never changes while we run.
"""

from __future__ import annotations

import logging

from meshtool import pacing
from meshtool.api import issuer, versions
from meshtool.app.settings import ControllerSettings
from meshtool.clock import Clock
from meshtool.kube import errors
from meshtool.kube.client import KubeClient

log = logging.getLogger("meshtool.app")
ISSUER_ATTEMPTS = 8
"""Discovery tries: with backoff from 0.5 s doubling to 8 s, about 40 s of trouble tolerated."""
_TRANSIENT = (errors.TransportError, errors.ServerError, errors.TooManyRequests)


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


async def cluster_issuer(client: KubeClient, setting: str, *, clock: Clock) -> str | None:
    """The issuer URL to name in certificates, or None for `--cluster-issuer=none`."""
    if setting == issuer.NONE:
        return None
    found = setting if setting != issuer.DISCOVER else await _discover_issuer(client, clock)
    log.info("cluster issuer %s (--cluster-issuer=%s)", found, setting)
    return found


async def _discover_issuer(client: KubeClient, clock: Clock) -> str:
    document = await _discovery_document(client, clock)
    try:
        return issuer.from_discovery(document)
    except issuer.IssuerError as exc:
        raise StartupError(f"{exc}; set --cluster-issuer to the issuer URL or none") from None


async def _discovery_document(client: KubeClient, clock: Clock) -> object:
    last: errors.KubeError | None = None
    for attempt in range(ISSUER_ATTEMPTS):
        if attempt:
            await clock.sleep(pacing.backoff(attempt - 1, base=0.5, cap=8.0))
        try:
            return await client.get_path(issuer.DISCOVERY_PATH)
        except _TRANSIENT as exc:
            last = exc
            log.warning("cluster issuer discovery, try %d: %s", attempt + 1, exc)
        except errors.ApiError as exc:
            raise StartupError(_refused(exc)) from None
    raise StartupError(f"cannot discover the cluster issuer ({ISSUER_ATTEMPTS} tries): {last}")


def _refused(exc: errors.ApiError) -> str:
    return (
        f"cannot read {issuer.DISCOVERY_PATH} from kube-apiserver ({exc}); grant get on it "
        "(ClusterRoleBinding system:service-account-issuer-discovery) or set --cluster-issuer "
        "to the issuer URL or none"
    )
