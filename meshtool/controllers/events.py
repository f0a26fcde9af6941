"""Kubernetes Events about PodCertificateRequests (events.k8s.io/v1).

Events are for people running `kubectl describe`: we post them for denials and for requests we
hold (for example "no Service selects this pod yet"), never for routine issuance, and never
with key material. Posting is best effort: a failed Event is logged and counted, and never
fails the reconcile that wanted it.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from meshtool.api import wire
from meshtool.clock import Clock
from meshtool.controllers.metrics import Metrics
from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient

log = logging.getLogger("meshtool.controllers.events")

REPORTING_CONTROLLER = "meshtool.row-major.net/controller"


class EventRecorder:
    def __init__(
        self, client: KubeClient, *, clock: Clock, instance: str, metrics: Metrics
    ) -> None:
        self._client, self._clock, self._instance = client, clock, instance
        self._metrics = metrics

    def body(
        self, regarding: dict[str, Any], *, type_: str, reason: str, action: str, note: str
    ) -> dict[str, Any]:
        name = f"{regarding['name']}.{secrets.token_hex(8)}"
        return {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": regarding.get("namespace", "default")},
            "eventTime": wire.format_micro_time(self._clock.now()),
            "reportingController": REPORTING_CONTROLLER,
            "reportingInstance": self._instance[:128],
            "action": action,
            "reason": reason,
            "note": note[:1024],
            "type": type_,
            "regarding": regarding,
        }

    async def post(
        self, regarding: dict[str, Any], *, type_: str, reason: str, action: str, note: str
    ) -> None:
        body = self.body(regarding, type_=type_, reason=reason, action=action, note=note)
        try:
            await self._client.create(
                resources.EVENTS, body, namespace=body["metadata"]["namespace"]
            )
        except errors.KubeError as exc:
            self._metrics.api_errors.labels(operation="event", code=_code(exc)).inc()
            log.warning("could not post event %s for %s: %s", reason, regarding.get("name"), exc)


def _code(exc: errors.KubeError) -> str:
    return str(exc.code) if isinstance(exc, errors.ApiError) else "transport"
