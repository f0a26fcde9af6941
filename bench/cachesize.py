"""Bytes per cached object: what the controller keeps of each pod and PodCertificateRequest.

The informers keep only what the signers read (`meshtool.api.objects` views for pods, and
`meshtool.api.pcr.read` for requests: the parsed request while pending, a small `Answered` once
it has a terminal condition). This script builds N objects shaped like the apiserver's (server
fields included: uid, resourceVersion, creationTimestamp, managedFields), decodes them from JSON
as the client does, and measures with tracemalloc what N raw objects and what N cached values
take, per object. In process, no cluster. Run `python bench/cachesize.py [--count N]`; the last
line is `cachesize: pod_raw=<b> pod_view=<b> pcr_raw=<b> pcr_pending=<b> pcr_answered=<b>`.
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc
import uuid
from collections.abc import Callable
from typing import Any

import msgspec

from meshtool.api import objects, pcr
from meshtool.api.types import KeyType
from meshtool.testing import fleet, pcrforms

JSON = dict[str, Any]
MANAGED = [{"manager": "kubelet", "operation": "Update", "apiVersion": "v1",
            "time": "2026-12-02T04:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                         "f:spec": {"f:containers": {}, "f:volumes": {}}}}]  # fmt: skip


def server_fields(body: JSON, index: int) -> JSON:
    meta = body["metadata"]
    meta.setdefault("name", f"req-{index:06d}")
    meta.update(
        uid=str(uuid.uuid4()),
        resourceVersion=str(100000 + index),
        creationTimestamp="2026-12-02T04:00:00Z",
        managedFields=MANAGED,
    )
    return body


def pod(index: int) -> JSON:
    source = fleet.pod_certificate_source("row-major.net/spiffe")
    body = fleet.pod_body(
        "bench", f"pod-{index:06d}", node=f"node-{index % 50}", service_account="default",
        sources=[source], labels={"app": "web", "pod-template-hash": "5d8f7c9b6"},
    )  # fmt: skip
    return server_fields(body, index)


def request(index: int, key: Any) -> JSON:
    target = pcrforms.PodTarget(
        "bench", f"pod-{index:06d}", str(uuid.uuid4()), "default", str(uuid.uuid4()),
        f"node-{index % 50}", str(uuid.uuid4()),
    )  # fmt: skip
    form = pcrforms.default_form("v1", 37)
    body = pcrforms.pcr_body(
        form, target, version="v1", signer_name="row-major.net/spiffe", key=key
    )
    body["spec"]["maxExpirationSeconds"] = 86400
    return server_fields(body, index)


def answered(body: JSON) -> JSON:
    condition = {"type": "Issued", "status": "True", "reason": "Issued", "message": "",
                 "lastTransitionTime": "2026-12-02T04:00:01Z"}  # fmt: skip
    chain = "-----BEGIN CERTIFICATE-----\n" + "A" * 900 + "\n-----END CERTIFICATE-----\n"
    return {**body, "status": {"conditions": [condition], "certificateChain": chain}}


def per_object(make: Callable[[], list[Any]]) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = make()
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return size / len(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    count = parser.parse_args().count
    key = pcrforms.generate_key(KeyType.ECDSAP256)
    pods = [msgspec.json.encode(pod(i)) for i in range(count)]
    pending = [msgspec.json.encode(request(i, key)) for i in range(count)]
    done = [msgspec.json.encode(answered(request(i, key))) for i in range(count)]
    decode = msgspec.json.decode
    figures = {
        "pod_raw": per_object(lambda: [decode(b) for b in pods]),
        "pod_view": per_object(lambda: [objects.pod_view(decode(b)) for b in pods]),
        "pcr_raw": per_object(lambda: [decode(b) for b in pending]),
        "pcr_pending": per_object(lambda: [pcr.read(decode(b)) for b in pending]),
        "pcr_answered": per_object(lambda: [pcr.read(decode(b)) for b in done]),
    }
    for name, value in figures.items():
        print(f"  {name:<14} {value:8.0f} bytes per object")
    print("cachesize: " + " ".join(f"{k}={v:.0f}" for k, v in figures.items()), flush=True)


if __name__ == "__main__":
    main()
