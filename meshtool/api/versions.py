"""Which certificates.k8s.io version to speak, and what to tell the user when none is served.

Preference is newest first: v1 > v1beta1 > v1alpha1. `choose` is pure: the caller runs API
discovery and passes, per version of certificates.k8s.io, the set of resource plurals that
version serves. Both PodCertificateRequest and ClusterTrustBundle are off by default before
1.37, and kube-apiserver silently serves nothing for them until a feature gate *and* a
`--runtime-config` entry are set; `not_served_message` spells out exactly which.

Adding a version means one new parser module and one entry in `PREFERENCE`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

PREFERENCE = ("v1", "v1beta1", "v1alpha1")
"""certificates.k8s.io versions we can speak, best first."""

PODCERTIFICATEREQUESTS = "podcertificaterequests"
CLUSTERTRUSTBUNDLES = "clustertrustbundles"

_PCR_HELP = (
    "PodCertificateRequest (certificates.k8s.io podcertificaterequests) is not served by this "
    "cluster. On Kubernetes 1.35 and 1.36 enable the feature gate PodCertificateRequest=true "
    "on kube-apiserver, kube-controller-manager and every kubelet, and start kube-apiserver "
    "with --runtime-config=certificates.k8s.io/v1beta1/podcertificaterequests=true. "
    "On 1.34 use --runtime-config=certificates.k8s.io/v1alpha1/podcertificaterequests=true "
    "with the same gate. From 1.37 the v1 API is on by default."
)
_CTB_HELP = (
    "ClusterTrustBundle (certificates.k8s.io clustertrustbundles) is not served by this "
    "cluster. On Kubernetes 1.33 to 1.36 enable the feature gates ClusterTrustBundle=true "
    "(kube-apiserver, kube-controller-manager) and ClusterTrustBundleProjection=true "
    "(kube-apiserver, kubelet), and start kube-apiserver with "
    "--runtime-config=certificates.k8s.io/v1beta1/clustertrustbundles=true "
    "(before 1.33: certificates.k8s.io/v1alpha1/clustertrustbundles=true). "
    "From 1.37 the v1 API is on by default."
)
_HELP = {PODCERTIFICATEREQUESTS: _PCR_HELP, CLUSTERTRUSTBUNDLES: _CTB_HELP}


def choose(served: Mapping[str, Collection[str]], plural: str) -> str | None:
    """The newest version in `served` (version -> plurals) that serves `plural`, if any."""
    return next((v for v in PREFERENCE if plural in served.get(v, ())), None)


def legacy_key_view(served: Mapping[str, Collection[str]], chosen: str) -> bool:
    """Whether requests of pre-1.36 kubelets, whose key v1 hides, can be read through v1beta1:
    the controller speaks v1 and the cluster still serves v1beta1 PCRs beside it."""
    return chosen == "v1" and PODCERTIFICATEREQUESTS in served.get("v1beta1", ())


def not_served_message(plural: str) -> str:
    """What the cluster needs so that `plural` is served."""
    return _HELP.get(plural, f"certificates.k8s.io {plural} is not served by this cluster.")
