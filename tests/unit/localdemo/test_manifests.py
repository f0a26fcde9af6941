"""The demo's reading of the example manifests: the containers' own arguments, moved to local
paths and ports."""

from __future__ import annotations

from pathlib import Path

from meshtool.localdemo import manifests

REPO = Path(__file__).resolve().parents[3]


def test_localize_rewrites_mount_paths_in_both_flag_forms():
    mounts = {"/run/a": Path("/tmp/x/a"), "/run/a/b": Path("/tmp/y")}
    args = ["--creds=/run/a/c.pem", "--bundle", "/run/a/b/ca.pem", "/run/ab", "--x=/other"]
    assert manifests.localize(args, mounts) == [
        "--creds=/tmp/x/a/c.pem",
        "--bundle",
        "/tmp/y/ca.pem",
        "/run/ab",
        "--x=/other",
    ]


def test_flag_editing():
    args = ["demo-server", "--listen=:8443", "--count", "3", "--flag"]
    assert manifests.replace_flag(args, "--listen", "127.0.0.1:1") == [
        "demo-server",
        "--listen=127.0.0.1:1",
        "--count",
        "3",
        "--flag",
    ]
    assert manifests.drop_flag(args, "--count") == ["demo-server", "--listen=:8443", "--flag"]
    assert manifests.flag_value(args, "--listen") == ":8443"
    assert manifests.flag_value(args, "--count") == "3"


def test_example_deployments_become_pods_on_the_demo_node():
    docs = manifests.load_documents(REPO / "example-manifests")
    workloads = manifests.workloads(docs, node="n")
    assert {w.namespace for w in workloads} == {
        "pod-identity-client",
        "service-dns-unauth-client",
        "service-dns-spiffe-client",
        "service-dns-statefulset",
        "spiffe-mtls",
    }
    for w in workloads:
        assert w.pod["spec"]["nodeName"] == "n" and w.pod_name.endswith("-0")
    services = manifests.service_ports(docs)
    servers = [w for w in workloads if w.deployment == "server"]
    for svc in services:
        assert [
            w
            for w in servers
            if w.namespace == svc.namespace and manifests.selects(svc.selector, w.labels)
        ]


def test_a_statefulset_pod_has_its_per_pod_name_and_clients_reach_it():
    docs = manifests.load_documents(REPO / "example-manifests")
    [server] = [
        w
        for w in manifests.workloads(docs, node="n")
        if (w.namespace, w.deployment) == ("service-dns-statefulset", "server")
    ]
    assert server.pod_name == "server-0"
    assert (server.pod["spec"]["hostname"], server.pod["spec"]["subdomain"]) == (
        "server-0",
        "server",
    )
    [port] = [p for p in manifests.service_ports(docs) if p.namespace == server.namespace]
    assert port.hosts(server) == {
        "server.service-dns-statefulset.svc",
        "server-0.server.service-dns-statefulset.svc",
    }
