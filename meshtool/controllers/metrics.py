"""Prometheus metrics of one controller, all with bounded label sets.

Each `Controller` owns a `Metrics` with its own registry (served at its `/metrics`), so two
controllers in one process, as in tests, never share or double-count a series. Labels are
signer names (at most three), reasons (a fixed vocabulary of CamelCase constants), HTTP codes
and result words, and federated trust domains (one per FederatedTrustDomain, which an operator
declares); never names of workload objects, so cardinality does not grow with the cluster. Gauges
that describe the cache (pending requests, oldest age, queue depth), readiness and the event
loop's task count (`count_tasks`, which the soak watches for leaks) are computed at scrape time
by callbacks the app registers. The dashboards and alerts in charts/meshtool/files/ use only
these names (a test scrapes a running controller to check).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)
PREFIX = "meshtool"
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self._series: dict[tuple[MetricWrapperBase, tuple[str, ...]], MetricWrapperBase] = {}
        self._requests()
        self._pools_and_bundles()
        self._cache_gauges()
        self._bundle_endpoint()
        self._federation()

    def series(self, metric: M, *values: str) -> M:
        """`metric.labels(*values)`, remembered (a lookup instead of prometheus_client's label
        handling on every request): only for series that are never removed, as the request
        path's signer/result/reason series are."""
        key = (metric, values)
        child = self._series.get(key)
        if child is None:
            child = self._series[key] = metric.labels(*values)
        return child  # type: ignore[return-value]

    def _counter(self, name: str, help_: str, labels: list[str]) -> Counter:
        return Counter(f"{PREFIX}_{name}", help_, labels, registry=self.registry)

    def _gauge(self, name: str, help_: str, labels: list[str] | None = None) -> Gauge:
        return Gauge(f"{PREFIX}_{name}", help_, labels or [], registry=self.registry)

    def _requests(self) -> None:
        self.issued = self._counter("issued_total", "Certificates issued.", ["signer"])
        self.denied = self._counter("denied_total", "Requests denied.", ["signer", "reason"])
        self.failed = self._counter("failed_total", "Requests marked Failed.", ["signer", "reason"])
        self.held = self._counter(
            "held_total", "Reconciles that held a request (not yet issuable).", ["signer", "reason"]
        )
        self.status_writes = self._counter(
            "status_writes_total",
            "PodCertificateRequest status writes by result (written, conflict, gone, error).",
            ["signer", "result"],
        )
        self.issuance_latency = Histogram(
            f"{PREFIX}_issuance_latency_seconds",
            "From PodCertificateRequest creation to our terminal status write.",
            ["signer"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.api_errors = self._counter(
            "api_errors_total", "API errors by HTTP code.", ["operation", "code"]
        )
        self.self_check_failures = self._counter(
            "status_self_check_failures_total",
            "Issued statuses our own validation refused before writing (a bug or clock trouble).",
            ["signer"],
        )
        self.reconciles = self._counter(
            "reconciles_total", "Reconciles by outcome.", ["controller", "outcome"]
        )

    def _pools_and_bundles(self) -> None:
        self.ca_not_after = self._gauge(
            "ca_not_after_timestamp_seconds",
            "Expiry of each CA of the loaded pool.",
            ["signer", "ca_id"],
        )
        self.ca_role = self._gauge(
            "ca_role", "1 for the role each CA of the loaded pool has.", ["signer", "ca_id", "role"]
        )
        self.ca_next_step = self._gauge(
            "ca_rotation_next_step_seconds",
            "Seconds until time alone brings the next rotation step (0: due or waiting on an "
            "observation, -1: nothing scheduled).",
            ["signer"],
        )
        self.ca_warning = self._gauge(
            "ca_warning",
            "1 while a CA pool warning holds (CAExpired, CAExpiringWithoutSuccessor, "
            "CARotationStuck).",
            ["signer", "reason"],
        )
        self.ca_rotation_steps = self._counter(
            "ca_rotation_steps_total", "Rotation steps written to pool Secrets.", ["signer", "step"]
        )
        self.ca_pool_load_errors = self._counter(
            "ca_pool_load_errors_total", "CA pool files that failed to load.", ["signer"]
        )
        self.ca_pool_healthy = self._gauge(
            "ca_pool_healthy", "1 when the pool file last read is valid.", ["signer"]
        )
        self.ctb_publish_errors = self._counter(
            "trust_bundle_publish_errors_total", "ClusterTrustBundle writes that failed.", ["op"]
        )
        self.ctb_writes = self._counter(
            "trust_bundle_writes_total", "ClusterTrustBundle writes by operation.", ["op"]
        )

    def _federation(self) -> None:
        # One series per federated trust domain: as many as FederatedTrustDomain objects.
        self.federation_fetches = self._counter(
            "federation_fetches_total",
            "Peer bundle fetches by trust domain and result (success, or the failure reason).",
            ["trust_domain", "result"],
        )
        self.federation_last_success = self._gauge(
            "federation_last_success_timestamp_seconds",
            "When the peer bundle of a trust domain was last fetched and validated.",
            ["trust_domain"],
        )
        self.federation_sequence = self._gauge(
            "federation_published_sequence",
            "spiffe_sequence of the bundle published for a trust domain (0 without one).",
            ["trust_domain"],
        )
        self._fetch_results: dict[str, set[str]] = {}

    def count_fetch(self, trust_domain: str, result: str) -> None:
        self._fetch_results.setdefault(trust_domain, set()).add(result)
        self.federation_fetches.labels(trust_domain=trust_domain, result=result).inc()

    def forget_trust_domain(self, trust_domain: str) -> None:
        """Drop a de-federated (or renamed) peer's series, so no dashboard shows it as stale."""
        for result in self._fetch_results.pop(trust_domain, ()):
            self.federation_fetches.remove(trust_domain, result)
        for gauge in (self.federation_last_success, self.federation_sequence):
            with contextlib.suppress(KeyError):
                gauge.remove(trust_domain)

    def _cache_gauges(self) -> None:
        self.pending = self._gauge(
            "pending_requests", "Requests of our signers without a terminal status."
        )
        self.oldest_pending = self._gauge(
            "oldest_pending_request_age_seconds", "Age of the oldest pending request."
        )
        self.queue_depth = self._gauge("workqueue_depth", "Keys waiting in the work queue.")
        self.live_replicas = self._gauge("live_replicas", "Replicas this one sees as live.")
        self.ready = self._gauge(
            "ready", "1 while /readyz answers 200 (caches synced, CA pools loaded, API reachable)."
        )
        self.asyncio_tasks = self._gauge(
            "asyncio_tasks", "Tasks alive on the controller's event loop (steady unless leaking)."
        )
        self.cluster_issuer = self._gauge(
            "cluster_issuer_info",
            "1, labelled with the cluster issuer certificates name (caIssuers; 'none' when off).",
            ["issuer"],
        )

    def _bundle_endpoint(self) -> None:
        self.bundle_endpoint_requests = self._counter(
            "bundle_endpoint_requests_total",
            "SPIFFE bundle endpoint requests by path class (bundle, anchors, healthz, other) and "
            "HTTP code ('refused': closed over the connection cap).",
            ["path", "code"],
        )
        self.bundle_endpoint_sequence = self._gauge(
            "bundle_endpoint_sequence",
            "The spiffe_sequence the bundle endpoint serves now (0 while unpublished).",
        )
        self.bundle_endpoint_cert_not_after = self._gauge(
            "bundle_endpoint_certificate_not_after_timestamp_seconds",
            "Expiry of the bundle endpoint's serving certificate (its X509-SVID or the web "
            "certificate file; 0 while it has none).",
        )

    def watch_readiness(self, problems: Callable[[], list[str]]) -> None:
        """`meshtool_ready` follows `problems` (what /readyz lists): 1 when there are none."""
        self.ready.set_function(lambda: 0.0 if problems() else 1.0)

    def count_tasks(self, loop: asyncio.AbstractEventLoop) -> None:
        """Have `asyncio_tasks` report the tasks of `loop` at every scrape."""
        self.asyncio_tasks.set_function(lambda: len(asyncio.all_tasks(loop)))
