"""The DNS name forms of the service-dns signer, and which of them a pod may ask for.

Every name the signer certifies is a base the cluster vouches for (`<service>.<namespace>`
for a Service that selects the pod, `<hostname>.<subdomain>.<namespace>` for a pod under a
headless Service that selects it) followed by `.svc` and one suffix per form:

| form              | name                                    | allowed when                      |
|-------------------|-----------------------------------------|-----------------------------------|
| `svc`             | `<base>.svc`                            | always                            |
| `cluster-domain`  | `<base>.svc.<cluster domain>`           | the controller enables it         |
| `<suffix>`        | `<base>.svc.<suffix>` (`clusterset.local`) | the controller lists the suffix |

`NameForms` is the controller's choice: the cluster domain (default `cluster.local`), whether
its form is on (off by default), and the cross-cluster suffixes (none by default; the
Multi-Cluster Services API uses `clusterset.local`). Without a pod's choice every allowed form
is used; a pod may narrow it to some of them (`choose`), and asking for a form the controller
does not allow is Denied `NameFormNotAllowed`. The forms only add suffixes: which bases appear
is still decided by the cluster, never by the pod.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from meshtool.api import decisions
from meshtool.api.decisions import Denied

SVC = "svc"
CLUSTER_DOMAIN = "cluster-domain"
DEFAULT_CLUSTER_DOMAIN = "cluster.local"


@dataclass(frozen=True, slots=True)
class NameForms:
    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    cluster_domain_form: bool = False
    clusterset_domains: tuple[str, ...] = ()

    @property
    def allowed(self) -> dict[str, str]:
        """Form name -> the suffix it puts after `.svc`, in certificate order."""
        forms = {SVC: ""}
        if self.cluster_domain_form:
            forms[CLUSTER_DOMAIN] = f".{self.cluster_domain}"
        forms.update({domain: f".{domain}" for domain in self.clusterset_domains})
        return forms

    def choose(self, asked: str | None) -> tuple[str, ...] | Denied:
        """The suffixes for a pod's comma-separated choice (None: every allowed form)."""
        allowed = self.allowed
        if asked is None:
            return tuple(allowed.values())
        wanted = [part.strip() for part in asked.split(",") if part.strip()]
        refused = [form for form in wanted if form not in allowed]
        if not wanted or refused:
            problem = f"{refused[0]!r} is not" if refused else "no form is"
            message = f"name form {problem} allowed; this controller allows {', '.join(allowed)}"
            return Denied(decisions.NAME_FORM_NOT_ALLOWED, message)
        return tuple(allowed[form] for form in dict.fromkeys(wanted))


def names(bases: Iterable[str], suffixes: Iterable[str]) -> tuple[str, ...]:
    """`<base>.svc<suffix>` for every base and suffix, sorted and unique."""
    chosen = tuple(suffixes)
    return tuple(sorted({f"{base}.svc{suffix}" for base in bases for suffix in chosen}))


def describe(name: str) -> str:
    """What kind of service-dns name `name` is, from its shape (for `meshtool inspect`)."""
    labels = name.split(".")
    if SVC not in labels:
        return "other name"
    at = labels.index(SVC)
    kinds = {2: f"Service {labels[0]} in namespace {labels[1]}"}
    kinds[3] = f"pod {labels[0]} of headless Service {labels[1]} in namespace {labels[2]}"
    kind = kinds.get(at, "other name")
    suffix = ".".join(labels[at + 1 :])
    return f"{kind}, under .svc.{suffix}" if suffix and at in kinds else kind
