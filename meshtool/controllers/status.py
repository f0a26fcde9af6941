"""Writing a decision into a PodCertificateRequest's status: the one place that does it.

`CachedPCR` is what the PCR informer keeps: the parsed request plus the raw object needed to
PUT `/status` with its resourceVersion (so a stale view can never overwrite another replica's
answer: the apiserver answers 409). Terminal requests drop the raw object to save memory.

`StatusWriter.write` checks an Issued status against the apiserver's own rules before sending
it (a violation is our bug or clock trouble: retried, never turned into Failed), then maps the
API's answer to an outcome:

    written        -> done
    409 Conflict   -> re-read the object: terminal now means another replica answered (done);
                      otherwise the caller decides again on the fresh object
    404 Not Found  -> the request is gone (cleaned up, or its pod deleted): done
    403 Forbidden, or 422 "not permitted to sign" (how the apiserver reports a missing `sign`
                   permission on a status write) -> Warning Event + metric, then raise:
                   retried with backoff, as RBAC may be fixed
    anything else  -> raise: retried with backoff
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any

from meshtool.api import MalformedRequest, decisions, pcr, status, types, validation
from meshtool.clock import Clock
from meshtool.controllers import events, metrics
from meshtool.kube import errors
from meshtool.kube.client import KubeClient
from meshtool.kube.resources import Resource

log = logging.getLogger("meshtool.controllers.status")

JSON = dict[str, Any]
Terminal = decisions.Issued | decisions.Denied | decisions.Failed


@dataclass(frozen=True, slots=True)
class CachedPCR:
    key: str
    namespace: str
    name: str
    uid: str
    rv: str
    signer_name: str
    terminal: bool
    request: types.PodCertRequest | None
    error: str
    raw: JSON


def cached_pcr(obj: JSON) -> CachedPCR:
    """The informer transform for PodCertificateRequests.

    A terminal request is not parsed further (its key is never needed again): every status we
    write comes back as a watch event, and skipping its CSR decode halves the parsing work.
    """
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    terminal = _has_terminal(obj)
    request: types.PodCertRequest | None = None
    error = ""
    if not terminal:
        try:
            request = pcr.parse(obj)
        except MalformedRequest as exc:
            error = str(exc)
    return CachedPCR(
        key=f"{meta.get('namespace', '')}/{meta.get('name', '')}",
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        rv=str(meta.get("resourceVersion", "")),
        signer_name=str(spec.get("signerName", "")),
        terminal=terminal,
        request=request,
        error=error,
        raw={} if terminal else obj,
    )


def _has_terminal(obj: JSON) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(
        isinstance(c, dict) and c.get("type") in {t.value for t in types.Terminal}
        for c in conditions
    )


class Outcome(enum.Enum):
    WRITTEN = "written"
    DONE = "done"
    """Nothing to write any more (answered by another replica, or the request is gone)."""


@dataclass(frozen=True, slots=True)
class Stale:
    """The object changed under us; `fresh` is the current, still unanswered version."""

    fresh: CachedPCR


class StatusWriter:
    def __init__(
        self,
        *,
        client: KubeClient,
        resource: Resource,
        recorder: events.EventRecorder,
        clock: Clock,
    ) -> None:
        self._client, self._resource = client, resource
        self._recorder, self._clock = recorder, clock

    async def write(self, cached: CachedPCR, decision: Terminal) -> Outcome | Stale:
        body = status.status_body(decision, clock=self._clock)
        if isinstance(decision, decisions.Issued) and cached.request is not None:
            self._self_check(cached, dict(body))
        try:
            await self._client.replace(
                self._resource,
                cached.name,
                status.pcr_status_update(cached.raw, body),
                namespace=cached.namespace,
                subresource="status",
            )
        except errors.ApiError as exc:
            return await self._on_error(cached, exc)
        self._record(cached, decision)
        return Outcome.WRITTEN

    def _self_check(self, cached: CachedPCR, body: JSON) -> None:
        assert cached.request is not None
        problems = validation.issued_status_problems(
            body, request=cached.request, now=self._clock.now()
        )
        if problems:
            metrics.SELF_CHECK_FAILURES.labels(signer=cached.signer_name).inc()
            raise RuntimeError(f"{cached.key}: refusing to write an invalid status: {problems}")

    async def _on_error(self, cached: CachedPCR, exc: errors.ApiError) -> Outcome | Stale:
        metrics.API_ERRORS.labels(operation="status", code=str(exc.code)).inc()
        if isinstance(exc, errors.NotFound):
            metrics.STATUS_WRITES.labels(signer=cached.signer_name, result="gone").inc()
            return Outcome.DONE
        if isinstance(exc, errors.Conflict):
            metrics.STATUS_WRITES.labels(signer=cached.signer_name, result="conflict").inc()
            return await self._reread(cached)
        metrics.STATUS_WRITES.labels(signer=cached.signer_name, result="error").inc()
        if _permission_problem(exc):
            await self.warn(cached, "Forbidden", f"status update refused: {exc.message}")
        raise exc

    async def _reread(self, cached: CachedPCR) -> Outcome | Stale:
        # A live read, off the per-request path: only after a 409, when our cache is known stale.
        try:
            fresh = cached_pcr(
                await self._client.get(self._resource, cached.name, namespace=cached.namespace)
            )
        except errors.NotFound:
            return Outcome.DONE
        return Outcome.DONE if fresh.terminal else Stale(fresh)

    def _record(self, cached: CachedPCR, decision: Terminal) -> None:
        signer = cached.signer_name
        metrics.STATUS_WRITES.labels(signer=signer, result="written").inc()
        if isinstance(decision, decisions.Issued):
            metrics.ISSUED.labels(signer=signer).inc()
        elif isinstance(decision, decisions.Denied):
            metrics.DENIED.labels(signer=signer, reason=decision.reason).inc()
        elif isinstance(decision, decisions.Failed):
            metrics.FAILED.labels(signer=signer, reason=decision.reason).inc()
        created = cached.request.created_at if cached.request else None
        if created is not None:
            age = (self._clock.now() - created).total_seconds()
            metrics.ISSUANCE_LATENCY.labels(signer=signer).observe(max(age, 0.0))
        log.info("%s %s: %s", type(decision).__name__.lower(), cached.key, _summary(decision))

    async def warn(self, cached: CachedPCR, reason: str, message: str) -> None:
        await self._recorder.post(
            _reference(cached), type_="Warning", reason=reason, action="Sign", note=message
        )


def _permission_problem(exc: errors.ApiError) -> bool:
    return isinstance(exc, errors.Forbidden) or (
        isinstance(exc, errors.Invalid) and 'not permitted to "sign"' in exc.message
    )


def _summary(decision: decisions.Decision) -> str:
    if isinstance(decision, decisions.Issued):
        return f"valid {decision.not_before:%H:%M:%S}..{decision.not_after:%Y-%m-%d %H:%M:%S}"
    return f"{getattr(decision, 'reason', '')}: {getattr(decision, 'message', '')}"


def _reference(cached: CachedPCR) -> JSON:
    return {
        "apiVersion": str(cached.raw.get("apiVersion", "certificates.k8s.io/v1")),
        "kind": "PodCertificateRequest",
        "namespace": cached.namespace,
        "name": cached.name,
        "uid": cached.uid,
    }
