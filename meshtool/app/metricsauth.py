"""Authentication and authorization of `/metrics` scrapes against kube-apiserver.

With `--metrics-auth=kubernetes` the metrics endpoint does what kube-rbac-proxy does in front
of one: the scraper sends `Authorization: Bearer <token>`; a TokenReview asks the apiserver who
that is (401 if nobody), then a SubjectAccessReview asks whether they may `get` the
non-resource URL `/metrics` (403 if not). `/healthz` and `/readyz` are not behind it: probes
carry no token.

Answers are cached per token for `ttl` seconds of the injected clock, so a scraper every few
seconds costs two API calls per `ttl`, not per scrape; a revoked binding is honoured within
`ttl`. The cache is keyed by the token's SHA-256 (the token itself is never kept, logged or
put in a message) and bounded: expired entries go first, then the oldest. When the apiserver
cannot be asked, the answer is 503 and nothing is cached, so the next scrape asks again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from meshtool.api import reviews
from meshtool.clock import Clock
from meshtool.kube import errors, resources
from meshtool.kube.resources import Resource

log = logging.getLogger("meshtool.app.metricsauth")

METRICS_PATH = "/metrics"
DEFAULT_TTL = 10.0
"""Seconds an answer is reused: brief, so a removed RoleBinding stops scrapes quickly."""
MAX_ENTRIES = 1024


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str
    """The HTTP status line's code and reason, e.g. "403 Forbidden"."""
    message: str

    @property
    def ok(self) -> bool:
        return self.status.startswith("200")


ALLOWED = Verdict("200 OK", "")
UNAUTHENTICATED = Verdict("401 Unauthorized", "a valid bearer token is required\n")
FORBIDDEN = Verdict("403 Forbidden", "not allowed to get /metrics\n")
UNAVAILABLE = Verdict("503 Service Unavailable", "cannot review the token with kube-apiserver\n")


class Reviews(Protocol):
    """The one client call we need (`meshtool.kube.client.KubeClient.review`)."""

    async def review(self, resource: Resource, body: dict[str, Any]) -> dict[str, Any]: ...


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, else None."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


class MetricsAuth:
    def __init__(
        self, client: Reviews, clock: Clock, *, ttl: float = DEFAULT_TTL, size: int = MAX_ENTRIES
    ) -> None:
        self._client, self._clock, self._ttl, self._size = client, clock, ttl, size
        self._cache: dict[str, tuple[Verdict, float]] = {}

    async def check(self, authorization: str | None) -> Verdict:
        token = bearer_token(authorization)
        if token is None:
            return UNAUTHENTICATED
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > self._clock.monotonic():
            return cached[0]
        try:
            verdict = await self._decide(token)
        except errors.KubeError as exc:
            log.warning("metrics scrape not reviewed, kube-apiserver unavailable: %s", exc)
            return UNAVAILABLE
        self._remember(key, verdict)
        return verdict

    async def _decide(self, token: str) -> Verdict:
        status = await self._client.review(resources.TOKEN_REVIEWS, reviews.token_review(token))
        subject = reviews.reviewed_subject(status)
        if subject is None:
            return UNAUTHENTICATED
        body = reviews.url_access_review(subject, METRICS_PATH)
        if reviews.allowed(await self._client.review(resources.SUBJECT_ACCESS_REVIEWS, body)):
            return ALLOWED
        log.debug("metrics scrape by %s forbidden", subject.user)
        return FORBIDDEN

    def _remember(self, key: str, verdict: Verdict) -> None:
        now = self._clock.monotonic()
        if len(self._cache) >= self._size:
            self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
        while len(self._cache) >= self._size:
            del self._cache[next(iter(self._cache))]
        self._cache[key] = (verdict, now + self._ttl)
