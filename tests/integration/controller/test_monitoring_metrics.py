"""The alerts and dashboard name only metrics a real controller exports.

A controller with the spiffe signer and its pool Secret (so the CA rotation gauges are there)
issues one certificate against the real apiserver; then every metric name in
charts/meshtool/files/alerts.yaml and dashboard.json (read out of their PromQL by
`meshtool.testing.promql`) must be declared on its /metrics, and every one has samples except
the counters that only count trouble this healthy run never meets."""

from __future__ import annotations

from pathlib import Path

from meshtool.clock import SystemClock
from meshtool.pki import capool
from meshtool.testing import fleet, promql

from . import rotationkit
from .conftest import ctb_source, eventually, make_pod, signer_name

ROOT = Path(__file__).resolve().parents[3]
TROUBLE_ONLY = {
    f"meshtool_{name}"
    for name in (
        "denied_total",
        "failed_total",
        "held_total",
        "api_errors_total",
        "status_self_check_failures_total",
        "trust_bundle_publish_errors_total",
        "ca_rotation_steps_total",
        "ca_pool_load_errors_total",
    )
}


async def test_every_metric_of_the_alerts_and_dashboard_is_exported(
    kube, namespace, start_controller, start_kubelet, controller_kubeconfig, pools
):
    secret = rotationkit.PoolSecret(kube, pools["spiffe"])
    await secret.create(capool.load(pools["spiffe"].read_bytes(), clock=SystemClock()))
    try:
        controller = await start_controller(
            *rotationkit.SECRET_FLAG, "--ca-rotation-interval", "1", signers=("spiffe",)
        )
        sim = await start_kubelet()
        sources = [
            fleet.pod_certificate_source(signer_name("spiffe"), path="svid.pem"),
            ctb_source("spiffe", "ca.pem"),
        ]
        await make_pod(kube, namespace, "web-0", node=sim.node_name, sources=sources)
        await sim.wait_ready(namespace, "web-0", timeout=90)

        async def rotation_exported() -> bool:
            return controller.metric_sum("meshtool_ca_role", role="active") == 1

        await eventually(rotation_exported, timeout=30, what="the CA role gauges")
        _, text = controller.get("/metrics")
    finally:
        await secret.close()

    exported, sampled = promql.exported_names(text), promql.sampled_names(text)
    used = {
        where: promql.metric_names(expr)
        for where, expr in promql.monitoring_expressions(ROOT).items()
    }
    assert all(used.values()), [where for where, names in used.items() if not names]
    missing = {where: sorted(names - exported) for where, names in used.items() if names - exported}
    assert missing == {}
    every = set().union(*used.values())
    assert every - sampled <= TROUBLE_ONLY
    assert controller.metric_sum("meshtool_ready") == 1
    assert controller.metric_sum("meshtool_issued_total", signer=signer_name("spiffe")) == 1
