"""Static checks of the YAML we ship: it parses, RBAC is least-privilege, args match the CLIs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from meshtool.cli import controller as cli_controller
from meshtool.cli import demo as cli_demo
from meshtool.localdemo import manifests
from meshtool.signers import names
from meshtool.workload import folder as workload_folder

ROOT = Path(__file__).resolve().parents[2]
SIGNERS = ["row-major.net/service-dns", "row-major.net/spiffe", "row-major.net/pod-identity"]
SCENARIOS = [
    "service-dns-unauth-client",
    "service-dns-spiffe-client",
    "spiffe-mtls",
    "pod-identity-client",
]
COMMANDS = {c.name: c for c in [*cli_demo.COMMANDS, *cli_controller.COMMANDS]}


def load(*dirs: str) -> list[dict[str, Any]]:
    """The documents of folders; a kustomize base contributes its `resources` files."""
    docs = []
    for d in dirs:
        for path in manifests.manifest_files(ROOT / d):
            docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return docs


def find(docs: list[dict[str, Any]], kind: str, name: str, namespace: str | None = None):
    (doc,) = [
        d
        for d in docs
        if d["kind"] == kind
        and d["metadata"]["name"] == name
        and d["metadata"].get("namespace") == namespace
    ]
    return doc


def grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str, str]]:
    """Every (apiGroup, resource, resourceName or '', verb) a rule list allows."""
    return {
        (group, resource, name, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for name in rule.get("resourceNames", [""])
        for verb in rule["verbs"]
    }


@pytest.fixture(scope="module")
def controller_docs() -> list[dict[str, Any]]:
    return load("controller-manifests")


@pytest.mark.parametrize("directory", ["controller-manifests", "example-manifests", "kind"])
def test_every_document_is_one_resource(directory: str) -> None:
    docs = load(directory)
    assert docs
    for doc in docs:
        assert isinstance(doc, dict)
        assert {"apiVersion", "kind"} <= doc.keys()
        assert directory == "kind" or doc["metadata"]["name"]


def test_the_kustomize_base_lists_every_manifest_of_its_folder() -> None:
    folder = ROOT / "controller-manifests"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    files = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


def test_every_controller_object_carries_the_name_label(controller_docs) -> None:
    for doc in controller_docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["labels"] == {"app.kubernetes.io/name": "meshtool-controller"}


def test_metrics_service_selects_the_controller_pods_health_port(controller_docs) -> None:
    service = find(controller_docs, "Service", "meshtool-controller-metrics", "mesh-controller")
    deploy = find(controller_docs, "Deployment", "meshtool-controller", "mesh-controller")
    template = deploy["spec"]["template"]
    assert service["spec"]["selector"] == template["metadata"]["labels"]
    (port,) = service["spec"]["ports"]
    container_port, _ = template["spec"]["containers"][0]["ports"]
    assert (port["name"], port["targetPort"]) == ("metrics", container_port["name"])


def test_bundle_endpoint_service_reaches_the_https_spiffe_endpoint(controller_docs) -> None:
    name = "meshtool-controller-bundle-endpoint"
    service = find(controller_docs, "Service", name, "mesh-controller")
    deploy = find(controller_docs, "Deployment", "meshtool-controller", "mesh-controller")
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    assert service["spec"]["selector"] == deploy["spec"]["template"]["metadata"]["labels"]
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == (
        "bundle-endpoint",
        443,
        port["name"],
    )
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    params = parse_args(container["args"])
    assert params["bundle_endpoint_listen"] == f":{ports['bundle-endpoint']}" == ":8443"
    assert params["bundle_endpoint_profile"] == "https_spiffe"


def test_cluster_role_grants_exactly_what_the_signers_need(controller_docs) -> None:
    role = find(controller_docs, "ClusterRole", "meshtool-controller")
    certs = "certificates.k8s.io"
    expected = {(certs, "signers", s, v) for s in SIGNERS for v in ("sign", "attest")}
    expected |= {(certs, "podcertificaterequests", "", v) for v in ("get", "list", "watch")}
    expected |= {(certs, "podcertificaterequests/status", "", "update")}
    expected |= {
        (certs, "clustertrustbundles", "", v)
        for v in ("get", "list", "watch", "create", "update", "delete")
    }
    expected |= {
        ("", r, "", v)
        for r in ("pods", "services", "serviceaccounts", "nodes")
        for v in ("get", "list", "watch")
    }
    expected |= {(g, "events", "", v) for g in ("", "events.k8s.io") for v in ("create", "patch")}
    ftd = "meshtool.row-major.net"
    expected |= {(ftd, "federatedtrustdomains", "", v) for v in ("get", "list", "watch")}
    expected |= {(ftd, "federatedtrustdomains/status", "", v) for v in ("update", "patch")}
    assert grants(role["rules"]) == expected


def test_namespaced_role_covers_leases_and_the_pool_secrets_by_name(controller_docs) -> None:
    role = find(controller_docs, "Role", "meshtool-controller", "mesh-controller")
    verbs = ("get", "list", "watch", "create", "update", "delete")
    expected = {("coordination.k8s.io", "leases", "", v) for v in verbs}
    expected |= {
        ("", "secrets", f"{s}-ca-pool", v)
        for s in ("service-dns", "spiffe", "pod-identity")
        for v in ("get", "update")  # update: CA rotation replaces the pool Secret
    }
    assert grants(role["rules"]) == expected


def test_no_wildcards_and_secrets_only_by_name(controller_docs) -> None:
    for doc in controller_docs:
        for rule in doc.get("rules", []):
            assert "*" not in str(rule)
            if "secrets" in rule["resources"]:
                assert rule["verbs"] == ["get", "update"] and rule["resourceNames"]


def test_bindings_tie_the_roles_to_the_service_account(controller_docs) -> None:
    sa = find(controller_docs, "ServiceAccount", "meshtool-controller", "mesh-controller")
    for kind, binding_kind, ns in [("ClusterRole", "ClusterRoleBinding", None),
                                   ("Role", "RoleBinding", "mesh-controller")]:  # fmt: skip
        binding = find(controller_docs, binding_kind, "meshtool-controller", ns)
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": kind,
            "name": "meshtool-controller",
        }
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": sa["metadata"]["name"],
                "namespace": "mesh-controller",
            }
        ]


def test_controller_deployment(controller_docs) -> None:
    deploy = find(controller_docs, "Deployment", "meshtool-controller", "mesh-controller")
    spec = deploy["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert deploy["spec"]["replicas"] == 2
    assert container["image"] == "meshtool:latest"
    assert spec["securityContext"]["runAsUser"] == 65532
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {
        e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        for e in container["env"]
    }
    assert env == {
        "MESHTOOL_SHARDING_POD_NAMESPACE": "metadata.namespace",
        "MESHTOOL_SHARDING_POD_NAME": "metadata.name",
        "MESHTOOL_SHARDING_POD_UID": "metadata.uid",
        "MESHTOOL_SHARDING_APPLICATION_NAME": None,
    }
    params = parse_args(container["args"])
    pools = {v["name"]: v["secret"] for v in spec["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    for signer in ("service-dns", "spiffe", "pod-identity"):
        assert params[f"enable_{signer.replace('-', '_')}_signer"]
        pool = pools[f"{signer}-ca-pool"]
        assert pool["secretName"] == f"{signer}-ca-pool"
        assert pool["items"] == [{"key": "pool", "path": "pool"}]
        flag = str(params[f"{signer.replace('-', '_')}_ca_pool"])
        assert flag == f"{mounts[f'{signer}-ca-pool']}/pool"
    pdb = find(controller_docs, "PodDisruptionBudget", "meshtool-controller", "mesh-controller")
    assert pdb["spec"]["minAvailable"] == 1


def parse_args(args: list[str]) -> dict[str, Any]:
    """Parse container args with the real click command, as `meshtool` would."""
    command = COMMANDS[args[0]]
    try:
        ctx = command.make_context(args[0], list(args[1:]), resilient_parsing=False)
    except click.ClickException as exc:
        pytest.fail(f"{shlex.join(args)}: {exc.format_message()}")
    return dict(ctx.params)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_example_scenario(scenario: str) -> None:
    docs = load("example-manifests")
    mine = [d for d in docs if d["metadata"].get("namespace") == scenario]
    assert find(docs, "Namespace", scenario)
    assert {d["kind"] for d in mine} == {"ServiceAccount", "Service", "Deployment"}
    service = find(docs, "Service", "server", scenario)
    assert service["spec"]["ports"][0]["port"] == 443
    for name in ("server", "client"):
        deploy = find(docs, "Deployment", name, scenario)
        assert deploy["spec"]["replicas"] == 1
        spec = deploy["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == name
        (container,) = spec["containers"]
        assert container["image"] == "meshtool:latest"
        assert container["args"][0] == {"server": "demo-server", "client": "https-client"}[name]
        params = parse_args(container["args"])
        check_files_are_projected(params, container, spec["volumes"])
    client = parse_args(container_of(docs, "client", scenario)["args"])
    assert client["fetch_url"].startswith(f"https://server.{scenario}.svc/")


def container_of(docs: list[dict[str, Any]], name: str, namespace: str) -> dict[str, Any]:
    return find(docs, "Deployment", name, namespace)["spec"]["template"]["spec"]["containers"][0]


def check_files_are_projected(params: dict[str, Any], container, volumes) -> None:
    """Every file flag points into a mounted projected volume that produces that file."""
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    sources = {v["name"]: v["projected"]["sources"] for v in volumes}
    for key in ("server_creds", "spiffe_trust_bundle", "server_trust_bundle", "client_cred_bundle"):
        if not params.get(key):
            continue
        directory, _, file = str(params[key]).rpartition("/")
        (source,) = sources[mounts[directory]]
        assert produced(source) == file
        if "clusterTrustBundle" in source:
            check_live(source["clusterTrustBundle"])
    if params.get("credential_folder"):
        check_credential_folder(sources[mounts[str(params["credential_folder"])]])


def produced(source: dict[str, Any]) -> str:
    return source.get("podCertificate", {}).get("credentialBundlePath") or source.get(
        "clusterTrustBundle", {}
    ).get("path")


def check_live(ctb: dict[str, Any]) -> None:
    labels = ctb["labelSelector"]["matchLabels"]
    canarying = {
        names.SERVICE_DNS: names.DEFAULT.service_dns_canarying_label,
        names.SPIFFE: names.DEFAULT.spiffe_canarying_label,
        names.POD_IDENTITY: names.DEFAULT.pod_identity_canarying_label,
    }[ctb["signerName"]]
    assert labels[canarying] == names.LIVE


def check_credential_folder(sources: list[dict[str, Any]]) -> None:
    """A SPIFFE credential folder: the credential bundle, and one trust bundle per trust
    domain, each selecting the live spiffe CTB of exactly that trust domain."""
    files = [produced(source) for source in sources]
    assert files[0] == workload_folder.CREDENTIAL_BUNDLE
    assert "podCertificate" in sources[0]
    for source, file in zip(sources[1:], files[1:], strict=True):
        ctb = source["clusterTrustBundle"]
        check_live(ctb)
        td = file.removesuffix(workload_folder.TRUST_BUNDLE_SUFFIX)
        assert file == f"{td}{workload_folder.TRUST_BUNDLE_SUFFIX}"
        assert ctb["labelSelector"]["matchLabels"]["spiffe.row-major.net/trust-domain"] == td
    assert len(set(files)) == len(files) > 1


def test_spiffe_mtls_pins_both_identities() -> None:
    docs = load("example-manifests")
    ids = {
        name: parse_args(
            find(docs, "Deployment", name, "spiffe-mtls")["spec"]["template"]["spec"]["containers"][
                0
            ]["args"]
        )
        for name in ("server", "client")
    }
    assert ids["server"]["allowed_client_id"] == (
        "spiffe://cluster.local/ns/spiffe-mtls/sa/client",
    )
    assert ids["client"]["server_spiffe_id"] == "spiffe://cluster.local/ns/spiffe-mtls/sa/server"


def test_pod_identity_example_trusts_only_the_pod_identity_signer_for_clients() -> None:
    docs = load("example-manifests")
    server = find(docs, "Deployment", "server", "pod-identity-client")["spec"]["template"]["spec"]
    client = find(docs, "Deployment", "client", "pod-identity-client")["spec"]["template"]["spec"]
    signers = {
        name: [
            (kind, source[kind]["signerName"])
            for volume in spec["volumes"]
            for source in volume["projected"]["sources"]
            for kind in source
        ]
        for name, spec in (("server", server), ("client", client))
    }
    assert signers["server"] == [
        ("podCertificate", "row-major.net/service-dns"),
        ("clusterTrustBundle", "row-major.net/pod-identity"),
    ]
    assert ("podCertificate", "row-major.net/pod-identity") in signers["client"]
    assert parse_args(server["containers"][0]["args"])["enable_spiffe_client_support"]


def test_kind_configs() -> None:
    old = yaml.safe_load((ROOT / "kind/kind-config-1.35.yaml").read_text())
    assert old["featureGates"] == {
        "PodCertificateRequest": True,
        "ClusterTrustBundle": True,
        "ClusterTrustBundleProjection": True,
    }
    assert set(old["runtimeConfig"].values()) == {"true"}
    new = yaml.safe_load((ROOT / "kind/kind-config.yaml").read_text())
    for config in (old, new):
        assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
        assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker"]
    assert {n["image"] for n in old["nodes"]} == {"kindest/node:v1.35.0"}
    (image,) = {n["image"] for n in new["nodes"]}
    assert re.fullmatch(r"kindest/node:v1\.37\.\d+@sha256:[0-9a-f]{64}", image)
    assert image in (ROOT / "README.md").read_text()  # the quickstart shows the pinned image
