"""Writing a decision into a PodCertificateRequest's status: the one place that does it.

`StatusWriter.write` checks an Issued status against the apiserver's own rules before sending
it (a violation is our bug or clock trouble: retried, never turned into Failed), then PUTs a
minimal body to `/status` through the API version the request was read in, carrying the
request's resourceVersion, so a stale view can never overwrite another replica's answer (the
apiserver answers 409). It maps the API's answer onto what the reconciler does next:

    written        -> True: done
    404 Not Found  -> False: the request is gone (cleaned up, or its pod deleted), nothing to do
    409 Conflict   -> raise `Requeue`: the work queue retries with backoff, and the retry
                      rereads the informer cache (terminal by then if another replica answered)
    403 Forbidden, or 422 "not permitted to sign" (how the apiserver reports a missing `sign`
                   permission on a status write) -> Warning Event + metric, then raise:
                   retried with backoff, as RBAC may be fixed
    anything else  -> raise: retried with backoff

The ownership check is repeated as the last step before the PUT (`still_ours`, asked by the
HTTP client once it holds a connection, with no wait between it and the write): deciding,
signing and waiting for a free connection take a millisecond or more, and a replica frozen
inside that window (SIGSTOP, a long GC or VM pause) must not send on resume what it decided
while it still held its Lease.

So there is one retry mechanism, the queue's; this module never retries by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from meshtool.api import decisions, status, types, validation
from meshtool.clock import Clock
from meshtool.controllers import events
from meshtool.controllers.metrics import Metrics
from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient
from meshtool.runtime.controller import Requeue

log = logging.getLogger("meshtool.controllers.status")

Terminal = decisions.Issued | decisions.Denied | decisions.Failed
Target = types.PodCertRequest | types.Unreadable


class StatusWriter:
    def __init__(
        self,
        *,
        client: KubeClient,
        recorder: events.EventRecorder,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._client, self._recorder = client, recorder
        self._clock, self._metrics = clock, metrics

    async def write(
        self,
        target: Target,
        decision: Terminal,
        *,
        still_ours: Callable[[], bool] | None = None,
    ) -> bool:
        """Write `decision`; True when written, False when the request is gone. `still_ours` is
        asked last, by the HTTP client with a connection in hand: a replica frozen after its
        ownership check (deciding, signing, or waiting for a connection) must not send once it
        has lost its Lease."""
        body = status.status_body(decision, clock=self._clock)
        if isinstance(decision, decisions.Issued) and isinstance(target, types.PodCertRequest):
            self._self_check(target, decision, body)
        try:
            await self._client.replace(
                resources.pod_certificate_requests(target.api_version.rpartition("/")[2]),
                target.name,
                status.status_update(target, body),
                namespace=target.namespace,
                subresource="status",
                read_answer=False,
                send_if=still_ours,
            )
        except errors.Withdrawn as exc:
            raise Requeue(f"{target.key} is no longer ours to answer; not written") from exc
        except errors.ApiError as exc:
            return await self._on_error(target, exc)
        self._record(target, decision)
        return True

    def _self_check(
        self, request: types.PodCertRequest, decision: decisions.Issued, body: status.StatusBody
    ) -> None:
        problems = validation.issued_decision_problems(
            decision, body, request=request, now=self._clock.now()
        )
        if problems:
            self._metrics.self_check_failures.labels(signer=request.signer_name).inc()
            raise RuntimeError(f"{request.key}: refusing to write an invalid status: {problems}")

    async def _on_error(self, target: Target, exc: errors.ApiError) -> bool:
        self._metrics.api_errors.labels(operation="status", code=str(exc.code)).inc()
        if isinstance(exc, errors.NotFound):
            self._count(target, "gone")
            return False
        if isinstance(exc, errors.Conflict):
            self._count(target, "conflict")
            raise Requeue(f"{target.key} changed since we read it; deciding again") from exc
        self._count(target, "error")
        if _permission_problem(exc):
            await self.warn(target, "Forbidden", f"status update refused: {exc.message}")
        raise exc

    def _count(self, target: Target, result: str) -> None:
        self._metrics.series(self._metrics.status_writes, target.signer_name, result).inc()

    def _record(self, target: Target, decision: Terminal) -> None:
        signer, m = target.signer_name, self._metrics
        self._count(target, "written")
        if isinstance(decision, decisions.Issued):
            m.series(m.issued, signer).inc()
        elif isinstance(decision, decisions.Denied):
            m.series(m.denied, signer, decision.reason).inc()
        else:
            m.series(m.failed, signer, decision.reason).inc()
        if target.created_at is not None:
            age = (self._clock.now() - target.created_at).total_seconds()
            m.series(m.issuance_latency, signer).observe(max(age, 0.0))
        if log.isEnabledFor(logging.INFO):  # the summary formats dates: skip it when unused
            log.info("%s %s: %s", type(decision).__name__.lower(), target.key, _summary(decision))

    async def warn(self, target: Target, reason: str, message: str) -> None:
        await self._recorder.post(
            status.reference(target), type_="Warning", reason=reason, action="Sign", note=message
        )


def _permission_problem(exc: errors.ApiError) -> bool:
    return isinstance(exc, errors.Forbidden) or (
        isinstance(exc, errors.Invalid) and 'not permitted to "sign"' in exc.message
    )


def _summary(decision: Terminal) -> str:
    if isinstance(decision, decisions.Issued):
        return f"valid {decision.not_before:%H:%M:%S}..{decision.not_after:%Y-%m-%d %H:%M:%S}"
    return f"{decision.reason}: {decision.message}"
