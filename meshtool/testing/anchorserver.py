"""A local HTTPS server standing in for an issuer host: fixed answers per path, on 127.0.0.1.

Tests of `meshtool.anchorclient` and `meshtool inspect --fetch-anchors` serve the anchors at
the paths `meshtool.api.anchorpaths` names (or misbehave on purpose: a status, a redirect, a
huge or a slow body) without any cluster. It runs in a thread (the standard library's
threading HTTP server, wrapped in TLS with a `meshtool.testing.pki` serving certificate), so
synchronous callers such as click's test runner can use it as well as asyncio tests. Any path
without an answer is 404. Loopback only.
"""

from __future__ import annotations

import http.server
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from meshtool.testing import pki


@dataclass(frozen=True, slots=True)
class Answer:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunk_delay: float = 0.0
    """Seconds between 16-byte chunks of the body: a slow answer."""


@dataclass(slots=True)
class AnchorServer:
    url: str
    ca: pki.KeyPair
    ca_file: Path
    answers: dict[str, Answer]
    hits: list[str]


def _handler(server: AnchorServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server.hits.append(self.path)
            answer = server.answers.get(self.path, Answer(b"not found\n", 404))
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self._write(answer)

        def _write(self, answer: Answer) -> None:
            if not answer.chunk_delay:
                self.wfile.write(answer.body)
                return
            for start in range(0, len(answer.body), 16):
                time.sleep(answer.chunk_delay)
                self.wfile.write(answer.body[start : start + 16])
                self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serving(answers: dict[str, Answer] | None = None) -> Iterator[AnchorServer]:
    """An HTTPS server on 127.0.0.1 with a fresh test CA; `answers` may change while it runs."""
    ca = pki.new_ca("anchor-server-test-ca")
    tls = pki.serving_cert(ca)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "tls.crt").write_bytes(tls.cert_pem)
        (folder / "tls.key").write_bytes(tls.key_pem)
        (folder / "ca.crt").write_bytes(ca.cert_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(folder / "tls.crt", folder / "tls.key")
        state = AnchorServer("", ca, folder / "ca.crt", answers or {}, [])
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
        httpd.daemon_threads = True
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        state.url = f"https://127.0.0.1:{httpd.server_address[1]}"
        thread = threading.Thread(
            target=httpd.serve_forever, args=(0.05,), name="anchor-server", daemon=True
        )
        thread.start()
        try:
            yield state
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=5)
