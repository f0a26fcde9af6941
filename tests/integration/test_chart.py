"""The Helm chart (charts/meshtool) and the kustomize base (controller-manifests/): the real
helm lints and renders the chart, the real kubectl applies the renders to the real apiserver
(server-side dry run, and for real where RBAC is checked with SubjectAccessReviews), and the
chart's default render is the kustomize base's objects.

"The same objects" ignores what only Helm adds: the labels `helm.sh/chart`,
`app.kubernetes.io/managed-by`, `app.kubernetes.io/instance` and `app.kubernetes.io/version` on
the objects' metadata, and the base's Namespace (Helm installs into `--namespace`, created with
`--create-namespace`).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization

from meshtool.clock import SystemClock
from meshtool.pki import ca
from meshtool.testing import binaries
from meshtool.testing.pytest_plugin import SKIP_HINT, in_ci

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "meshtool"
BASE = REPO / "controller-manifests"
CRDS = Path(__file__).parent / "fixtures" / "monitoring-crds.yaml"
HELM_LABELS = {
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
}
SIGNERS = ("service-dns", "spiffe", "pod-identity")
# Everything off by default turned on, another domain, one signer off, other names.
NON_DEFAULT = {
    "fullnameOverride": "meshtool-alt",
    "image": {"repository": "registry.example/meshtool", "tag": "v0.1.0", "pullPolicy": "Always"},
    "replicas": 3,
    "signerDomain": "example.org",
    "spiffeTrustDomain": "prod.example.org",
    "signers": {
        "serviceDns": {"enabled": True, "poolSecret": "dns-pool"},
        "spiffe": {"enabled": False, "poolSecret": "spiffe-ca-pool"},
        "podIdentity": {"enabled": True, "poolSecret": "identity-pool"},
    },
    "bundleEndpoint": {
        "enabled": False,
        "port": 8443,
        "profile": "https_spiffe",
        "refreshHint": 60,
    },
    "extraArgs": ["--log-format=json"],
    "extraEnv": [{"name": "MESHTOOL_LOG_LEVEL", "value": "debug"}],
    "podDisruptionBudget": {"enabled": True, "minAvailable": 2},
    "metrics": {
        "auth": "kubernetes",
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "prometheusRule": {"enabled": True},
        "dashboard": {"enabled": True},
    },
    "networkPolicy": {"enabled": True, "apiServer": {"cidrs": ["10.0.0.1/32"]}},
}


@pytest.fixture(scope="session")
def helm() -> Path:
    try:
        return binaries.locate_helm()
    except binaries.BinariesUnavailable as exc:
        if in_ci():
            raise
        pytest.skip(f"{SKIP_HINT}: {exc}")


def run_helm(helm: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(helm), *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def values_file(tmp_path: Path, values: dict[str, Any]) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def render(helm: Path, namespace: str, *flags: str, kube_version: str = "v1.37.2") -> str:
    return run_helm(
        helm, "template", "meshtool", str(CHART), "-n", namespace, f"--kube-version={kube_version}",
        *flags,
    ).stdout  # fmt: skip


def objects(text: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(text) if d]
    return {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d for d in docs}


def without_helm_labels(doc: dict[str, Any]) -> dict[str, Any]:
    labels = doc["metadata"].get("labels", {})
    doc["metadata"]["labels"] = {k: v for k, v in labels.items() if k not in HELM_LABELS}
    return doc


def test_helm_lint_passes_strict_with_default_and_non_default_values(helm, tmp_path):
    for flags in ([], ["--strict"], ["--strict", "-f", str(values_file(tmp_path, NON_DEFAULT))]):
        done = run_helm(helm, "lint", str(CHART), "--kube-version=v1.34.0", *flags)
        assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout


def test_helm_lint_rejects_values_outside_the_schema(helm, tmp_path):
    bad = values_file(tmp_path, {"signerDomain": "Not A Domain", "replicas": 0})
    done = run_helm(helm, "lint", str(CHART), "-f", str(bad), check=False)
    assert done.returncode != 0
    assert "signerDomain" in done.stdout and "replicas" in done.stdout


def test_template_without_signers_fails_with_one_clear_line(helm, tmp_path):
    off = {"signers": {k: {"enabled": False} for k in ("serviceDns", "spiffe", "podIdentity")}}
    # poolSecret is required by the schema: keep the defaults' names.
    for key, name in zip(off["signers"], SIGNERS, strict=True):
        off["signers"][key]["poolSecret"] = f"{name}-ca-pool"
    done = run_helm(
        helm, "template", str(CHART), "-f", str(values_file(tmp_path, off)), check=False
    )
    assert done.returncode != 0
    assert "meshtool: enable at least one signer" in done.stderr


def test_chart_rejects_a_cluster_older_than_1_34(helm):
    done = run_helm(helm, "template", str(CHART), "--kube-version=v1.33.0", check=False)
    assert done.returncode != 0
    assert "kubeVersion" in done.stderr or ">=1.34.0-0" in done.stderr


def test_default_render_is_the_kustomize_base(helm, kubectl):
    rendered = render(helm, "mesh-controller", "--include-crds")
    chart = {k: without_helm_labels(d) for k, d in objects(rendered).items()}
    base = objects(kubectl("kustomize", str(BASE)).stdout)
    del base[("Namespace", "", "mesh-controller")]
    assert sorted(chart) == sorted(base)
    for key, doc in base.items():
        assert chart[key] == doc, key


def test_every_chart_object_has_the_recommended_labels(helm):
    for doc in objects(
        render(helm, "mesh-controller", "--set", "metrics.dashboard.enabled=true")
    ).values():
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/instance"] == "meshtool"
        assert labels["app.kubernetes.io/name"] == "meshtool-controller"
        assert labels["helm.sh/chart"] == "meshtool-0.1.0"


@pytest.mark.all_versions
def test_default_render_passes_server_dry_run(helm, kubectl, control_plane):
    kubectl("create", "namespace", "mesh-controller", check=False)
    text = render(helm, "mesh-controller", kube_version=control_plane.server_version)
    dry = kubectl("apply", "--dry-run=server", "-f", "-", input=text)
    assert len(dry.stdout.splitlines()) == len(objects(text)) == 9
    assert all(line.endswith("(server dry run)") for line in dry.stdout.splitlines())


@pytest.mark.all_versions
def test_non_default_render_passes_server_dry_run(helm, kubectl, control_plane, tmp_path):
    kubectl("apply", "-f", str(CRDS))
    kubectl("wait", "--for=condition=Established", "-f", str(CRDS), "--timeout=60s")
    kubectl("create", "namespace", "meshtool-alt", check=False)
    text = render(
        helm, "meshtool-alt", "-f", str(values_file(tmp_path, NON_DEFAULT)),
        kube_version=control_plane.server_version,
    )  # fmt: skip
    kinds = sorted(kind for kind, _, _ in objects(text))
    assert {"ServiceMonitor", "PrometheusRule", "NetworkPolicy", "PodDisruptionBudget"} <= set(
        kinds
    )
    assert "ConfigMap" in kinds
    dry = kubectl("apply", "--dry-run=server", "-f", "-", input=text)
    assert len(dry.stdout.splitlines()) == len(kinds) == 15


def test_non_default_values_reach_the_deployment(helm, tmp_path):
    docs = objects(render(helm, "ns1", "-f", str(values_file(tmp_path, NON_DEFAULT))))
    deploy = docs[("Deployment", "ns1", "meshtool-alt")]
    spec = deploy["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["image"] == "registry.example/meshtool:v0.1.0"
    assert container["imagePullPolicy"] == "Always"
    assert deploy["spec"]["replicas"] == 3
    assert container["args"] == [
        "controller", "--in-cluster", "--signer-domain=example.org",
        "--enable-service-dns-signer", "--service-dns-ca-pool=/run/ca-pools/service-dns/pool",
        "--service-dns-ca-pool-secret=ns1/dns-pool",
        "--enable-pod-identity-signer", "--pod-identity-ca-pool=/run/ca-pools/pod-identity/pool",
        "--pod-identity-ca-pool-secret=ns1/identity-pool",
        "--health-address=:8080", "--metrics-auth=kubernetes", "--log-format=json",
    ]  # fmt: skip
    assert {v["secret"]["secretName"] for v in spec["volumes"]} == {"dns-pool", "identity-pool"}
    assert {"name": "MESHTOOL_LOG_LEVEL", "value": "debug"} in container["env"]
    application = {e["name"]: e.get("value") for e in container["env"]}
    assert application["MESHTOOL_SHARDING_APPLICATION_NAME"] == "meshtool-alt"


def test_monitoring_objects_come_from_the_chart_files(helm, tmp_path):
    docs = objects(render(helm, "ns1", "-f", str(values_file(tmp_path, NON_DEFAULT))))
    rule = docs[("PrometheusRule", "ns1", "meshtool-alt")]
    alerts = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
    assert rule["spec"] == {"groups": alerts["groups"]}
    dashboard = docs[("ConfigMap", "ns1", "meshtool-alt-dashboard")]
    assert json.loads(dashboard["data"]["meshtool.json"]) == json.loads(
        (CHART / "files" / "dashboard.json").read_text()
    )
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    monitor = docs[("ServiceMonitor", "ns1", "meshtool-alt")]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    service = docs[("Service", "ns1", "meshtool-alt-metrics")]
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]


def test_metrics_auth_grants_what_the_optional_manifest_grants(helm, tmp_path):
    docs = objects(render(helm, "ns1", "-f", str(values_file(tmp_path, NON_DEFAULT))))
    optional = list(yaml.safe_load_all((BASE / "optional" / "metrics-auth-rbac.yaml").read_text()))
    roles = {d["metadata"]["name"]: d["rules"] for d in optional if d["kind"] == "ClusterRole"}
    assert (
        docs[("ClusterRole", "", "meshtool-alt-metrics-auth")]["rules"]
        == roles["meshtool-controller-metrics-auth"]
    )
    assert (
        docs[("ClusterRole", "", "meshtool-alt-metrics-reader")]["rules"]
        == roles["meshtool-metrics-reader"]
    )
    binding = docs[("ClusterRoleBinding", "", "meshtool-alt-metrics-auth")]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "meshtool-alt", "namespace": "ns1"}
    ]
    monitor = docs[("ServiceMonitor", "ns1", "meshtool-alt")]
    assert monitor["spec"]["endpoints"][0]["bearerTokenFile"].endswith("serviceaccount/token")
    default = objects(render(helm, "ns1"))
    assert not [key for key in default if "metrics-auth" in key[2] or "reader" in key[2]]


def test_network_policy_admits_only_the_metrics_port_and_the_apiserver(helm, tmp_path):
    docs = objects(render(helm, "ns1", "-f", str(values_file(tmp_path, NON_DEFAULT))))
    policy = docs[("NetworkPolicy", "ns1", "meshtool-alt")]["spec"]
    assert policy["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "meshtool-alt"}}
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "health", "protocol": "TCP"}]
    assert ingress["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    (egress,) = policy["egress"]
    assert egress["to"] == [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    assert [p["port"] for p in egress["ports"]] == [443, 6443]
    closed = render(helm, "ns1", "--set", "networkPolicy.enabled=true", "--set-json",
                    "networkPolicy.metricsFrom=[]", "--set",
                    "bundleEndpoint.enabled=false")  # fmt: skip
    assert objects(closed)[("NetworkPolicy", "ns1", "meshtool-controller")]["spec"]["ingress"] == []


def test_bundle_endpoint_web_profile_mounts_its_secret_and_the_policy_admits_it(helm, tmp_path):
    values = {
        "bundleEndpoint": {
            "enabled": True, "port": 9443, "profile": "https_web", "refreshHint": 60,
            "webCertSecret": "bundle-tls", "service": {"enabled": True, "port": 8443},
        },
        "networkPolicy": {"enabled": True},
    }  # fmt: skip
    docs = objects(render(helm, "ns1", "-f", str(values_file(tmp_path, values))))
    spec = docs[("Deployment", "ns1", "meshtool-controller")]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["args"][-5:] == [
        "--bundle-endpoint-listen=:9443", "--bundle-endpoint-profile=https_web",
        "--bundle-refresh-hint=60",
        "--bundle-endpoint-cert-file=/run/bundle-endpoint-tls/tls.crt",
        "--bundle-endpoint-key-file=/run/bundle-endpoint-tls/tls.key",
    ]  # fmt: skip
    assert {"name": "bundle-endpoint", "containerPort": 9443} in container["ports"]
    volumes = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"]}
    assert volumes["bundle-endpoint-tls"] == "bundle-tls"
    service = docs[("Service", "ns1", "meshtool-controller-bundle-endpoint")]["spec"]
    assert service["ports"] == [
        {
            "name": "bundle-endpoint",
            "port": 8443,
            "targetPort": "bundle-endpoint",
            "protocol": "TCP",
        }
    ]
    _, endpoint = docs[("NetworkPolicy", "ns1", "meshtool-controller")]["spec"]["ingress"]
    assert endpoint == {"ports": [{"port": "bundle-endpoint", "protocol": "TCP"}]}  # from anyone
    no_secret = {"bundleEndpoint": {**values["bundleEndpoint"], "webCertSecret": ""}}
    done = run_helm(helm, "lint", str(CHART), "-f", str(values_file(tmp_path, no_secret)),
                    check=False)  # fmt: skip
    assert done.returncode != 0 and "webCertSecret" in done.stdout


def test_bundle_endpoint_without_the_spiffe_signer_fails_with_one_clear_line(helm, tmp_path):
    off = {"signers": {"spiffe": {"enabled": False, "poolSecret": "spiffe-ca-pool"}}}
    done = run_helm(
        helm, "template", str(CHART), "-f", str(values_file(tmp_path, off)), check=False
    )
    assert done.returncode != 0
    assert "meshtool: bundleEndpoint.enabled needs signers.spiffe.enabled" in done.stderr


def test_cluster_issuer_and_federation_values_reach_the_controller(helm, tmp_path):
    values = {"clusterIssuer": "https://issuer.example/cluster-a", "federation": {"enabled": True}}
    docs = objects(render(helm, "ns1", "-f", str(values_file(tmp_path, values))))
    spec = docs[("Deployment", "ns1", "meshtool-controller")]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert "--cluster-issuer=https://issuer.example/cluster-a" in container["args"]
    assert "--federation" in container["args"]
    default = objects(render(helm, "ns1"))[("Deployment", "ns1", "meshtool-controller")]
    (plain,) = default["spec"]["template"]["spec"]["containers"]
    assert not [a for a in plain["args"] if a.startswith(("--cluster-issuer", "--federation"))]
    bad = values_file(tmp_path, {"clusterIssuer": "http://plain.example"})
    assert run_helm(helm, "lint", str(CHART), "-f", str(bad), check=False).returncode != 0
    no_spiffe = {
        "federation": {"enabled": True},
        "bundleEndpoint": {"enabled": False, "port": 8443, "profile": "https_spiffe",
                           "refreshHint": 300},
        "signers": {"spiffe": {"enabled": False, "poolSecret": "spiffe-ca-pool"}},
    }  # fmt: skip
    done = run_helm(
        helm, "template", str(CHART), "-f", str(values_file(tmp_path, no_spiffe)), check=False
    )
    assert "meshtool: federation.enabled needs signers.spiffe.enabled" in done.stderr


def test_kustomize_overlay_overrides_the_image(kubectl, tmp_path):
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(BASE, overlay)],  # kustomize wants it relative
                "images": [
                    {"name": "meshtool", "newName": "registry.example/meshtool", "newTag": "v0.1.0"}
                ],
            }
        )
    )
    built = objects(kubectl("kustomize", str(overlay)).stdout)
    deploy = built[("Deployment", "mesh-controller", "meshtool-controller")]
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example/meshtool:v0.1.0"
    kubectl("create", "namespace", "mesh-controller", check=False)
    dry = kubectl("apply", "--dry-run=server", "-k", str(overlay))
    assert "deployment.apps/meshtool-controller" in dry.stdout


def test_rbac_follows_the_signer_domain_and_the_enabled_signers(helm, kubectl, namespace, tmp_path):
    text = render(helm, namespace, "-f", str(values_file(tmp_path, NON_DEFAULT)))
    kubectl("apply", "-f", "-", input=text)
    role = objects(text)[("ClusterRole", "", "meshtool-alt")]
    (signer_rule,) = [r for r in role["rules"] if r["resources"] == ["signers"]]
    assert signer_rule["resourceNames"] == ["example.org/service-dns", "example.org/pod-identity"]
    user = f"system:serviceaccount:{namespace}:meshtool-alt"
    allowed = {
        f"{domain}/{signer}"
        for domain in ("example.org", "row-major.net")
        for signer in SIGNERS
        if can_i(kubectl, user, "sign", "signers", f"{domain}/{signer}")
        and can_i(kubectl, user, "attest", "signers", f"{domain}/{signer}")
    }
    assert allowed == {"example.org/service-dns", "example.org/pod-identity"}
    secrets = {
        name
        for name in ("dns-pool", "identity-pool", "spiffe-ca-pool", "service-dns-ca-pool")
        if can_i(kubectl, user, "update", "secrets", name, namespace=namespace)
    }
    assert secrets == {"dns-pool", "identity-pool"}


def can_i(kubectl, user, verb, resource, name, *, namespace="") -> bool:
    """A SubjectAccessReview for a ServiceAccount (signers are not discoverable for can-i)."""
    group = "certificates.k8s.io" if resource == "signers" else ""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": user,
            "groups": ["system:serviceaccounts", "system:authenticated"],
            "resourceAttributes": {
                "verb": verb,
                "group": group,
                "resource": resource,
                "name": name,
                "namespace": namespace,
            },
        },
    }
    done = kubectl(
        "create", "-f", "-", "-o", "jsonpath={.status.allowed}", input=json.dumps(review)
    )
    return done.stdout.strip() == "true"


def test_readme_uninstall_finds_the_published_bundles_by_signer_and_label(kubectl, ctb_version):
    """The README's Uninstall lists bundles by label and deletes them by signer name."""
    pem = generated_root_pem()
    for signer in ("spiffe", "pod-identity"):
        label = f"{signer.replace('-', '')}.row-major.net/canarying"
        bundle = {
            "apiVersion": f"certificates.k8s.io/{ctb_version}",
            "kind": "ClusterTrustBundle",
            "metadata": {"name": f"row-major.net:{signer}:uninstall", "labels": {label: "live"}},
            "spec": {"signerName": f"row-major.net/{signer}", "trustBundle": pem},
        }
        kubectl("apply", "-f", "-", input=json.dumps(bundle))
    listed = kubectl("get", "clustertrustbundles", "-L", "spiffe.row-major.net/canarying")
    assert "row-major.net:spiffe:uninstall" in listed.stdout and "live" in listed.stdout
    selector = "--field-selector=spec.signerName=row-major.net/spiffe"
    deleted = kubectl("delete", "clustertrustbundles", selector)
    assert "row-major.net:spiffe:uninstall" in deleted.stdout
    assert "pod-identity" not in deleted.stdout
    left = kubectl("get", "clustertrustbundles", "-o", "name").stdout
    assert "row-major.net:pod-identity:uninstall" in left
    assert "row-major.net:spiffe:uninstall" not in left
    kubectl("delete", "clustertrustbundle", "row-major.net:pod-identity:uninstall")


def generated_root_pem() -> str:
    root = ca.generate_ca(ca_id="1", name="uninstall", clock=SystemClock()).root
    return root.public_bytes(serialization.Encoding.PEM).decode("ascii")
