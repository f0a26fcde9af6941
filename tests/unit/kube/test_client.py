"""KubeClient against httpx2's MockTransport: URLs, bodies, paging, watch decoding, errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx2
import pytest

from meshtool.kube import errors, resources
from meshtool.kube.client import KubeClient

CONFIGMAPS = resources.Resource("", "v1", "configmaps", True)
PODS = resources.PODS
Handler = Callable[[httpx2.Request], httpx2.Response]


def client(handler: Handler) -> KubeClient:
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(handler), base_url="https://k8s")
    return KubeClient(http, qps=None)


def status(code: int, reason: str) -> httpx2.Response:
    return httpx2.Response(code, json={"kind": "Status", "code": code, "reason": reason})


async def test_list_follows_continue_and_fills_in_kind() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(dict(request.url.params))
        more = {"continue": "next"} if "continue" not in request.url.params else {}
        return httpx2.Response(
            200,
            json={
                "kind": "ConfigMapList",
                "metadata": {"resourceVersion": "7", **more},
                "items": [{"metadata": {"name": f"cm{len(seen)}"}}],
            },
        )

    result = await client(handler).list(CONFIGMAPS, namespace="ns", label_selector="a=b", limit=1)
    assert [i["metadata"]["name"] for i in result.items] == ["cm1", "cm2"]
    assert result.items[0]["kind"] == "ConfigMap" and result.items[0]["apiVersion"] == "v1"
    assert result.resource_version == "7"
    assert seen == [
        {"labelSelector": "a=b", "limit": "1"},
        {"labelSelector": "a=b", "limit": "1", "continue": "next"},
    ]


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (404, errors.NotFound),
        (409, errors.Conflict),
        (403, errors.Forbidden),
        (410, errors.Gone),
        (503, errors.ServerError),
    ],
)
async def test_http_errors_map_to_the_hierarchy(code: int, error: type[errors.ApiError]) -> None:
    with pytest.raises(error) as raised:
        await client(lambda _: status(code, "Why")).get(CONFIGMAPS, "x", namespace="ns")
    assert raised.value.code == code
    assert "GET /api/v1/namespaces/ns/configmaps/x" in str(raised.value)


async def test_non_json_error_body_is_kept_as_message() -> None:
    with pytest.raises(errors.ServerError, match="upstream down"):
        await client(lambda _: httpx2.Response(502, text="upstream down")).get(CONFIGMAPS, "x")


async def test_transport_errors_are_chained() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    with pytest.raises(errors.TransportError) as raised:
        await client(handler).get(CONFIGMAPS, "x", namespace="ns")
    assert isinstance(raised.value.__cause__, httpx2.ConnectError)


@pytest.mark.parametrize(
    ("patch_type", "content_type", "force"),
    [
        ("merge", "application/merge-patch+json", None),
        ("strategic", "application/strategic-merge-patch+json", None),
        ("json", "application/json-patch+json", None),
        ("apply", "application/apply-patch+yaml", "true"),
    ],
)
async def test_patch_types(patch_type: str, content_type: str, force: str | None) -> None:
    requests: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        requests.append(request)
        return httpx2.Response(200, json={})

    await client(handler).patch(
        CONFIGMAPS, "x", {"data": {}}, namespace="ns", subresource="status", patch_type=patch_type
    )
    (request,) = requests
    assert (
        request.method == "PATCH"
        and request.url.path == "/api/v1/namespaces/ns/configmaps/x/status"
    )
    assert request.headers["content-type"] == content_type
    assert request.url.params["fieldManager"] == "meshtool"
    assert request.url.params.get("force") == force


async def test_delete_sends_uid_precondition() -> None:
    bodies: list[object] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        bodies.append(json.loads(request.content))
        return httpx2.Response(200, json={"kind": "Status"})

    await client(handler).delete(CONFIGMAPS, "x", namespace="ns", uid="u1")
    assert bodies == [{"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "u1"}}]


async def test_delete_sends_a_grace_period_only_when_given() -> None:
    bodies: list[object] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        bodies.append(json.loads(request.content))
        return httpx2.Response(200, json={"kind": "Status"})

    await client(handler).delete(PODS, "p", namespace="ns", grace_period_seconds=0)
    await client(handler).delete(PODS, "p", namespace="ns")
    assert bodies == [
        {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0},
        {"apiVersion": "v1", "kind": "DeleteOptions"},
    ]


async def test_served_resources_and_health() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/apis/certificates.k8s.io/v1":
            return httpx2.Response(
                200,
                json={
                    "resources": [
                        {"name": "podcertificaterequests"},
                        {"name": "podcertificaterequests/status"},
                    ]
                },
            )
        if request.url.path == "/readyz":
            return httpx2.Response(500)
        return status(404, "NotFound")

    kube = client(handler)
    assert await kube.served_resources("certificates.k8s.io/v1") == {
        "podcertificaterequests",
        "podcertificaterequests/status",
    }
    assert await kube.served_resources("certificates.k8s.io/v9") is None
    assert await kube.healthy() is False


async def test_delete_collection_sends_one_delete_with_the_selector() -> None:
    seen: list[tuple[str, str, dict[str, str]]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append((request.method, request.url.path, dict(request.url.params)))
        return httpx2.Response(200, json={"kind": "ConfigMapList", "items": []})

    await client(handler).delete_collection(CONFIGMAPS, namespace="ns", label_selector="a=b")
    assert seen == [("DELETE", "/api/v1/namespaces/ns/configmaps", {"labelSelector": "a=b"})]


async def test_healthy_gives_up_after_its_own_timeout() -> None:
    timeouts: list[object] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        timeouts.append(request.extensions["timeout"])
        raise httpx2.ReadTimeout("no answer", request=request)

    assert await client(handler).healthy(timeout=2.5) is False
    assert timeouts == [{"connect": 2.5, "read": 2.5, "write": 2.5, "pool": 2.5}]


async def test_healthy_never_raises() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    assert await client(handler).healthy() is False


def watch_body(*events: dict[str, object]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


async def test_watch_yields_events_and_sends_bookmark_params() -> None:
    params: list[dict[str, str]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        params.append(dict(request.url.params))
        body = watch_body(
            {"type": "ADDED", "object": {"metadata": {"name": "a"}}},
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}},
        )
        return httpx2.Response(200, content=body)

    events = [
        e
        async for e in client(handler).watch(CONFIGMAPS, resource_version="5", field_selector="f=v")
    ]
    assert [e.type for e in events] == ["ADDED", "BOOKMARK"]
    assert params == [
        {
            "fieldSelector": "f=v",
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": "5",
            "timeoutSeconds": "300",
        }
    ]


@pytest.mark.parametrize(
    ("code", "error"), [(410, errors.Gone), (500, errors.ServerError), (403, errors.Forbidden)]
)
async def test_watch_error_events_raise(code: int, error: type[errors.ApiError]) -> None:
    body = watch_body({"type": "ERROR", "object": {"kind": "Status", "code": code, "reason": "X"}})
    with pytest.raises(error):
        async for _ in client(lambda _: httpx2.Response(200, content=body)).watch(
            CONFIGMAPS, resource_version="1"
        ):
            pass


async def test_watch_http_410_raises_gone() -> None:
    with pytest.raises(errors.Gone):
        async for _ in client(lambda _: status(410, "Expired")).watch(
            CONFIGMAPS, resource_version="1"
        ):
            pass


async def test_review_posts_without_field_manager_and_returns_the_status() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"kind": "TokenReview", "status": {"authenticated": True}})

    body = {"kind": "TokenReview", "spec": {"token": "t"}}
    status = await client(handler).review(resources.TOKEN_REVIEWS, body)
    assert status == {"authenticated": True}
    assert seen[0].method == "POST" and "fieldManager" not in seen[0].url.params
    assert seen[0].url.path == "/apis/authentication.k8s.io/v1/tokenreviews"


async def test_review_error_names_the_path_not_the_token() -> None:
    kube = client(lambda _: status(403, "Forbidden"))
    with pytest.raises(errors.Forbidden) as raised:
        await kube.review(resources.TOKEN_REVIEWS, {"spec": {"token": "s3cr3t-token"}})
    assert "tokenreviews" in str(raised.value) and "s3cr3t-token" not in str(raised.value)


async def test_create_posts_to_a_subresource() -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.url.path)
        return httpx2.Response(201, json={"status": {"token": "x"}})

    sa = resources.SERVICE_ACCOUNTS
    await client(handler).create(sa, {}, namespace="n", name="sa", subresource="token")
    assert seen == ["/api/v1/namespaces/n/serviceaccounts/sa/token"]


async def test_a_put_whose_answer_is_not_read_returns_nothing() -> None:
    kube = client(lambda request: httpx2.Response(200, content=b"not even json"))
    assert await kube.replace(CONFIGMAPS, "p", {}, namespace="ns", read_answer=False) == {}
