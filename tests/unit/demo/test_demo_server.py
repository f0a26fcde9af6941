"""The demo server over real TLS on loopback, with Ed25519 and ECDSA CAs."""

from __future__ import annotations

import itertools
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from meshtool.demo import client, server
from meshtool.pki import podidentity

from .demo_pki import CLIENT_ID, SERVER_HOST, Issued, Projection, issue, make_ca

_dirs = itertools.count()


class Caller:
    """Builds https-client settings for the server under test; each call gets fresh files."""

    def __init__(self, tmp_path: Path, port: int, trust: bytes) -> None:
        self.tmp_path, self.port, self.trust = tmp_path, port, trust

    def settings(self, path: str, creds: bytes | None = None) -> client.ClientSettings:
        d = self.tmp_path / f"client{next(_dirs)}"
        d.mkdir()
        (d / "trust.pem").write_bytes(self.trust)
        if creds is not None:
            (d / "creds.pem").write_bytes(creds)
        return client.ClientSettings(
            fetch_url=f"https://{SERVER_HOST}:{self.port}{path}",
            server_trust_bundle=str(d / "trust.pem"),
            client_cred_bundle=str(d / "creds.pem") if creds is not None else None,
            connect_to=client.ConnectTo.parse(f"{SERVER_HOST}:{self.port}:127.0.0.1:{self.port}"),
        )

    def get(self, path: str, creds: bytes | None = None) -> client.Response:
        settings = self.settings(path, creds)
        source = client.tls_source(settings)
        assert source.refresh()
        return client.fetch(settings, source.current())

    def connect(self) -> client.Connection:
        settings = self.settings("/healthz")
        source = client.tls_source(settings)
        assert source.refresh()
        conn = client.Connection(settings, source.current())
        conn.connect()
        return conn


def serial(conn: client.Connection) -> int:
    assert isinstance(conn.sock, ssl.SSLSocket)
    der = conn.sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def healthz(conn: client.Connection) -> int:
    conn.request("GET", "/healthz")
    resp = conn.getresponse()
    assert resp.read() == b"ok\n"
    return resp.status


@pytest.fixture
def spiffe_server(ca: Issued, ca_kind: str, projected: Projection, start_server):
    leaf = issue(ca, dns=(SERVER_HOST,), kind=ca_kind)  # Ed25519 server keys work too
    projected.write(**{"creds.pem": leaf.bundle(), "spiffe.pem": ca.pem()})
    return start_server(
        spiffe_trust_bundle=projected.path("spiffe.pem"),
        allowed_client_ids=frozenset({CLIENT_ID}),
    )


@pytest.fixture
def caller(ca: Issued, spiffe_server: server.DemoServer, tmp_path: Path) -> Caller:
    return Caller(tmp_path, spiffe_server.server_address[1], ca.pem())


def test_healthz_with_standard_verification_through_connect_to(caller: Caller) -> None:
    assert caller.get("/healthz") == client.Response(200, "ok\n")


def test_right_client_gets_its_identity_echoed(ca: Issued, caller: Caller, ca_kind: str) -> None:
    svid = issue(ca, uris=(CLIENT_ID,), kind=ca_kind)
    assert caller.get("/spiffe-echo", svid.bundle()) == client.Response(
        200, f"Client Identity: {CLIENT_ID}\n"
    )


def test_pod_identity_client_gets_its_pod_and_node_echoed(ca: Issued, caller: Caller) -> None:
    pod = podidentity.PodIdentity("demo", "client", "sa-uid", "client-0", "pod-uid", "n1", "n-uid")
    svid = issue(ca, uris=(CLIENT_ID,), extensions=(podidentity.extension(pod),))
    assert caller.get("/spiffe-echo", svid.bundle()) == client.Response(
        200, f"Client Identity: {CLIENT_ID}; pod demo/client-0 on node n1\n"
    )


def test_unreadable_pod_identity_extension_is_401(ca: Issued, caller: Caller) -> None:
    garbage = x509.UnrecognizedExtension(podidentity.OID, b"\x04\x00")
    resp = caller.get("/spiffe-echo", issue(ca, uris=(CLIENT_ID,), extensions=(garbage,)).bundle())
    assert (resp.status, resp.body) == (
        401,
        "unauthorized: unreadable client certificate: PodIdentity: not a SEQUENCE\n",
    )


def test_missing_client_certificate_is_401(caller: Caller) -> None:
    resp = caller.get("/spiffe-echo")
    assert (resp.status, resp.body) == (401, "unauthorized: no client certificate presented\n")


@pytest.mark.parametrize(
    ("uris", "is_ca", "reason"),
    [
        (("spiffe://other.domain/ns/demo/sa/client",), False, "no trust bundle for trust domain"),
        (("spiffe://cluster.local/ns/demo/sa/intruder",), False, "is not an allowed client"),
        ((CLIENT_ID, "spiffe://cluster.local/ns/demo/sa/x"), False, "2 URI SANs"),
        ((CLIENT_ID,), True, "is a CA"),
        (("https://cluster.local/ns/demo/sa/client",), False, "invalid SPIFFE ID"),
    ],
)
def test_unacceptable_svid_is_401_with_reason(
    ca: Issued, caller: Caller, uris: tuple[str, ...], is_ca: bool, reason: str
) -> None:
    resp = caller.get("/spiffe-echo", issue(ca, uris=uris, is_ca=is_ca).bundle())
    assert resp.status == 401
    assert reason in resp.body
    assert len(resp.body.splitlines()) == 1


def test_certificate_from_another_ca_is_401_with_reason(caller: Caller, ca_kind: str) -> None:
    stranger = issue(make_ca("stranger", ca_kind), uris=(CLIENT_ID,), kind=ca_kind)
    resp = caller.get("/spiffe-echo", stranger.bundle())
    assert resp.status == 401
    assert resp.body.startswith(
        f"unauthorized: {CLIENT_ID}: the chain does not verify against the bundle of trust domain "
        "'cluster.local': "
    )
    assert "not issued by any trust anchor" in resp.body
    assert len(resp.body.splitlines()) == 1
    assert caller.get("/healthz", stranger.bundle()).status == 200  # TLS itself let it in


def test_expired_client_certificate_is_401(ca: Issued, caller: Caller) -> None:
    resp = caller.get("/spiffe-echo", issue(ca, uris=(CLIENT_ID,), expired=True).bundle())
    assert resp.status == 401
    assert "expired at" in resp.body


def test_client_certificate_without_client_auth_usage_is_401(ca: Issued, caller: Caller) -> None:
    svid = issue(ca, uris=(CLIENT_ID,), eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    resp = caller.get("/spiffe-echo", svid.bundle())
    assert (resp.status, resp.body) == (
        401,
        "unauthorized: certificate's extended key usage does not allow TLS clients\n",
    )


def test_intermediates_the_client_sends_are_used(ca: Issued, ca_kind: str, caller: Caller) -> None:
    intermediate = make_ca("demo intermediate", ca_kind, issuer=ca)
    svid = issue(intermediate, uris=(CLIENT_ID,), kind=ca_kind)
    with_chain = caller.get("/spiffe-echo", svid.bundle(intermediate.cert))
    assert with_chain == client.Response(200, f"Client Identity: {CLIENT_ID}\n")
    without = caller.get("/spiffe-echo", svid.bundle())
    assert (without.status, "not issued by any trust anchor" in without.body) == (401, True)


def test_spiffe_echo_without_client_support_is_404(
    ca: Issued, projected: Projection, start_server, tmp_path: Path
) -> None:
    projected.write(**{"creds.pem": issue(ca, dns=(SERVER_HOST,)).bundle()})
    srv = start_server()
    assert Caller(tmp_path, srv.server_address[1], ca.pem()).get("/spiffe-echo").status == 404


def test_credential_swap_reaches_new_connections_and_spares_open_ones(
    ca: Issued, projected: Projection, spiffe_server: server.DemoServer, caller: Caller
) -> None:
    old = caller.connect()
    old_serial = serial(old)
    assert healthz(old) == 200
    new_leaf = issue(ca, dns=(SERVER_HOST,))
    projected.write(**{"creds.pem": new_leaf.bundle(), "spiffe.pem": ca.pem()})

    assert spiffe_server.tls.refresh()

    fresh = caller.connect()
    assert serial(fresh) == new_leaf.cert.serial_number != old_serial
    sock = old.sock
    assert healthz(old) == 200
    assert old.sock is sock and serial(old) == old_serial  # same keep-alive connection
    old.close()
    fresh.close()


def test_bad_bundles_are_ignored_until_a_good_one_arrives(
    ca: Issued, projected: Projection, spiffe_server: server.DemoServer, caller: Caller, caplog
) -> None:
    conn = caller.connect()
    first = serial(conn)
    conn.close()
    good = issue(ca, dns=(SERVER_HOST,))
    other = issue(ca, dns=(SERVER_HOST,))
    mismatched = other.bundle().split(b"-----BEGIN CERTIFICATE-----")[0] + good.pem()
    for bad in (good.bundle()[:-200], mismatched, b""):
        projected.write(**{"creds.pem": bad, "spiffe.pem": ca.pem()})
        assert not spiffe_server.tls.refresh()
        assert not spiffe_server.tls.refresh()  # and the same bad file is not retried
        conn = caller.connect()
        assert serial(conn) == first
        conn.close()
    assert len([r for r in caplog.records if "ignoring TLS material" in r.message]) == 3
    assert not any("-----BEGIN" in r.getMessage() for r in caplog.records)

    projected.write(**{"creds.pem": good.bundle(), "spiffe.pem": ca.pem()})
    assert spiffe_server.tls.refresh()
    conn = caller.connect()
    assert serial(conn) == good.cert.serial_number
    conn.close()


def test_trust_bundle_rotation_admits_clients_of_the_new_ca(
    ca: Issued, ca_kind: str, projected: Projection, spiffe_server, caller: Caller
) -> None:
    new_ca = make_ca("next CA", ca_kind)
    svid = issue(new_ca, uris=(CLIENT_ID,))
    assert caller.get("/spiffe-echo", svid.bundle()).status == 401
    creds = issue(ca, dns=(SERVER_HOST,)).bundle()
    projected.write(**{"creds.pem": creds, "spiffe.pem": ca.pem() + new_ca.pem()})
    assert spiffe_server.tls.refresh()
    assert caller.get("/spiffe-echo", svid.bundle()).status == 200


def test_concurrent_connections_are_served(caller: Caller) -> None:
    conns = [caller.connect() for _ in range(5)]  # all open, none answered yet
    assert [healthz(c) for c in reversed(conns)] == [200] * 5
    for c in conns:
        c.close()


def test_unusable_credentials_fail_at_startup(projected: Projection, start_server) -> None:
    projected.write(**{"creds.pem": b"-----BEGIN PRIVATE KEY-----\ntruncated"})
    with pytest.raises(ValueError, match="no usable TLS material"):
        start_server()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_sessions_are_never_resumed(ca: Issued, caller: Caller, version: ssl.TLSVersion) -> None:
    ctx = ssl.create_default_context(cadata=ca.pem().decode())
    ctx.maximum_version = version
    session = None
    for _ in range(2):
        with ctx.wrap_socket(
            socket.create_connection(("127.0.0.1", caller.port), timeout=5),
            server_hostname=SERVER_HOST,
            session=session,
        ) as tls:
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert tls.recv(4096).startswith(b"HTTP/1.1 200")
            assert tls.version() == version.name.replace("v1_", "v1.")
            assert not tls.session_reused
            session = tls.session


def test_silent_connections_are_dropped_after_the_handshake_timeout(
    caller: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "HANDSHAKE_TIMEOUT", 0.1)
    with socket.create_connection(("127.0.0.1", caller.port), timeout=5) as raw:
        assert raw.recv(1) == b""  # closed by the server, well before our own timeout
    assert caller.get("/healthz").status == 200


# Found by tests/unit/demo/test_fuzz_server.py: urlsplit raised, the handler logged a traceback
# and the client got no answer.
def test_an_unparsable_request_target_is_400(caller: Caller) -> None:
    conn = caller.connect()
    try:
        conn.putrequest("GET", "http://[::1/healthz", skip_host=True)  # an unclosed IPv6 literal
        conn.endheaders()
        resp = conn.getresponse()
        assert (resp.status, resp.read()) == (400, b"bad request target\n")
    finally:
        conn.close()
