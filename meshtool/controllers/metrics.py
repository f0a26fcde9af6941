"""Prometheus metrics of the controller, all with bounded label sets.

Labels are signer names (at most three), reasons (a fixed vocabulary of CamelCase constants),
HTTP codes and result words; never object names, so cardinality does not grow with the
cluster. Gauges that describe the cache (pending requests, oldest age, queue depth) are
computed at scrape time by callbacks the app registers.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PREFIX = "meshtool"

ISSUED = Counter(f"{PREFIX}_issued_total", "Certificates issued.", ["signer"])
DENIED = Counter(f"{PREFIX}_denied_total", "Requests denied.", ["signer", "reason"])
FAILED = Counter(f"{PREFIX}_failed_total", "Requests marked Failed.", ["signer", "reason"])
HELD = Counter(
    f"{PREFIX}_held_total",
    "Reconciles that held a request (not yet issuable).",
    ["signer", "reason"],
)
STATUS_WRITES = Counter(
    f"{PREFIX}_status_writes_total",
    "PodCertificateRequest status writes by result (written, conflict, gone, error).",
    ["signer", "result"],
)
ISSUANCE_LATENCY = Histogram(
    f"{PREFIX}_issuance_latency_seconds",
    "From PodCertificateRequest creation to our terminal status write.",
    ["signer"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
API_ERRORS = Counter(
    f"{PREFIX}_api_errors_total", "API errors by HTTP code.", ["operation", "code"]
)
SELF_CHECK_FAILURES = Counter(
    f"{PREFIX}_status_self_check_failures_total",
    "Issued statuses our own validation refused before writing (a bug or clock trouble).",
    ["signer"],
)
CA_NOT_AFTER = Gauge(
    f"{PREFIX}_ca_not_after_timestamp_seconds", "Signing CA expiry.", ["signer", "ca_id"]
)
CA_POOL_LOAD_ERRORS = Counter(
    f"{PREFIX}_ca_pool_load_errors_total", "CA pool files that failed to load.", ["signer"]
)
CA_POOL_HEALTHY = Gauge(
    f"{PREFIX}_ca_pool_healthy", "1 when the pool file last read is valid.", ["signer"]
)
CTB_PUBLISH_ERRORS = Counter(
    f"{PREFIX}_trust_bundle_publish_errors_total", "ClusterTrustBundle writes that failed.", ["op"]
)
CTB_WRITES = Counter(
    f"{PREFIX}_trust_bundle_writes_total", "ClusterTrustBundle writes by operation.", ["op"]
)
PENDING = Gauge(f"{PREFIX}_pending_requests", "Requests of our signers without a terminal status.")
OLDEST_PENDING = Gauge(
    f"{PREFIX}_oldest_pending_request_age_seconds", "Age of the oldest pending request."
)
QUEUE_DEPTH = Gauge(f"{PREFIX}_workqueue_depth", "Keys waiting in the work queue.")
RECONCILES = Counter(
    f"{PREFIX}_reconciles_total", "Reconciles by outcome.", ["controller", "outcome"]
)
LIVE_REPLICAS = Gauge(f"{PREFIX}_live_replicas", "Replicas this one sees as live.")
