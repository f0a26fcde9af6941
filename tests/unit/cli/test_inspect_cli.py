from __future__ import annotations

import pathlib
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from meshtool import clock
from meshtool.cli import root
from meshtool.pki import capool, issue, keys, pem, podidentity

SPIFFE = "spiffe://cluster.local/ns/default/sa/web"
IDENTITY = podidentity.PodIdentity(
    "default", "web", "sa-uid", "web-0", "pod-uid", "node-a", "node-uid"
)


def run(*args: str) -> Any:
    return CliRunner().invoke(root, ["inspect", *args])


@pytest.fixture
def pool() -> capool.CAPool:
    return capool.new_pool(ca_id="1", name="example.com/spiffe", clock=clock.SystemClock())


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def leaf(pool: capool.CAPool, key: ec.EllipticCurvePrivateKey) -> issue.IssuedLeaf:
    profile = issue.LeafProfile(
        dns_names=("web.default.svc",),
        uris=(SPIFFE,),
        extended_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
        extra_extensions=((podidentity.extension(IDENTITY), False),),
    )
    result = issue.issue_leaf(
        public_key=key.public_key(),
        profile=profile,
        max_expiration_seconds=3600,
        ca=pool.signing_ca,
        clock=clock.SystemClock(),
    )
    assert isinstance(result, issue.IssuedLeaf)
    return result


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def write(tmp_path: pathlib.Path, name: str, data: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def test_credential_bundle(
    tmp_path: pathlib.Path, key: ec.EllipticCurvePrivateKey, leaf: issue.IssuedLeaf
) -> None:
    bundle = key_pem(key)
    path = write(tmp_path, "credentialbundle.pem", bundle + leaf.chain_pem)

    result = run(path)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert (
        lines[0] == f"credential bundle: ECDSAP256 private key {keys.fingerprint(key.public_key())}"
    )
    cert = leaf.certificate
    assert lines[1:] == [
        "certificate 1:",
        "  subject:     (empty)",
        "  issuer:      CN=example.com/spiffe CA 1",
        f"  serial:      {cert.serial_number:x}",
        f"  validity:    {leaf.not_before.isoformat()} .. {leaf.not_after.isoformat()} (valid)",
        f"  key:         ECDSAP256 {keys.fingerprint(key.public_key())}",
        "  CA:          no",
        "  DNS:         web.default.svc",
        f"  URI:         {SPIFFE}",
        f"  SPIFFE ID:   {SPIFFE}",
        "  PodIdentity:",
        "    namespace: default",
        "    service_account_name: web",
        "    service_account_uid: sa-uid",
        "    pod_name: web-0",
        "    pod_uid: pod-uid",
        "    node_name: node-a",
        "    node_uid: node-uid",
    ]
    key_body = "".join(bundle.splitlines()[1:-1])
    assert key_body[20:60] not in result.output


def test_chain_and_trust_bundle_verification(
    tmp_path: pathlib.Path, pool: capool.CAPool, leaf: issue.IssuedLeaf
) -> None:
    chain = write(tmp_path, "chain.pem", leaf.chain_pem)
    anchors = write(tmp_path, "trust.pem", pem.encode(pool.trust_anchors()))

    result = run(chain, "--trust-bundle", anchors)

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("certificate chain: 1 certificate(s)\ncertificate 1:\n")
    assert result.stdout.endswith(
        "chain verifies: 2 certificate(s) up to trust anchor CN=example.com/spiffe CA 1\n"
    )


def test_a_chain_that_does_not_verify(tmp_path: pathlib.Path, leaf: issue.IssuedLeaf) -> None:
    other = capool.new_pool(ca_id="2", name="other", clock=clock.SystemClock())
    chain = write(tmp_path, "chain.pem", leaf.chain_pem)
    anchors = write(tmp_path, "trust.pem", pem.encode(other.trust_anchors()))

    result = run(chain, "--trust-bundle", anchors)

    assert result.exit_code == 1
    assert result.stderr == (
        "meshtool: error: chain does not verify: certificate 1 (empty subject): "
        "not issued by any trust anchor\n"
    )


def test_trust_bundle(tmp_path: pathlib.Path, pool: capool.CAPool) -> None:
    path = write(tmp_path, "trust.pem", "# roots\n" + pem.encode(pool.trust_anchors()))

    result = run(path)

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("trust bundle: 1 certificate(s)\ncertificate 1:\n")
    assert "  subject:     CN=example.com/spiffe CA 1\n" in result.stdout
    assert "  CA:          yes\n" in result.stdout


def test_ca_pool(tmp_path: pathlib.Path, pool: capool.CAPool) -> None:
    data = capool.dump(pool)
    path = write(tmp_path, "pool.json", data)

    result = run(path)

    assert result.exit_code == 0, result.output
    ca = pool.signing_ca
    fingerprint = keys.fingerprint(ca.signing_key.public_key())
    assert result.stdout.startswith(
        f'CA pool: 1 CA(s)\nCA "1" (signing): ED25519 key {fingerprint}\n  root:\n'
    )
    secret = data.split(b'"SigningKeyPKCS8":"')[1].split(b'"')[0].decode()
    assert secret not in result.output


def test_trust_bundle_needs_a_chain(tmp_path: pathlib.Path, pool: capool.CAPool) -> None:
    path = write(tmp_path, "pool.json", capool.dump(pool))
    anchors = write(tmp_path, "trust.pem", pem.encode(pool.trust_anchors()))

    result = run(path, "--trust-bundle", anchors)

    assert result.exit_code == 1
    assert result.stderr == (
        "meshtool: error: --trust-bundle needs one certificate chain, "
        "not a CA pool or several objects\n"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01binary", "not a credential bundle, certificate chain, trust bundle or CA pool"),
        (
            b"{not json",
            "pool: not valid JSON: Expecting property name enclosed in double quotes (line 1)",
        ),
        (b'{"CAs": []}', "pool: CAs: the pool is empty"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n", "PEM block 1 (CERTIFICATE): no END line"),
    ],
)
def test_unreadable_input_is_one_line(tmp_path: pathlib.Path, content: bytes, message: str) -> None:
    path = write(tmp_path, "input", content)

    result = run(path)

    assert result.exit_code == 1
    assert result.stderr == f"meshtool: error: {path}: {message}\n"
    assert result.stdout == ""


def test_a_missing_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "absent.pem"

    result = run(str(path))

    assert result.exit_code == 1
    assert result.stderr == f"meshtool: error: cannot read {path}: No such file or directory\n"


def test_a_bad_trust_bundle(tmp_path: pathlib.Path, leaf: issue.IssuedLeaf) -> None:
    chain = write(tmp_path, "chain.pem", leaf.chain_pem)
    anchors = write(tmp_path, "trust.pem", "nothing here")

    result = run(chain, "--trust-bundle", anchors)

    assert result.exit_code == 1
    assert result.stderr == f"meshtool: error: {anchors}: no PEM blocks found\n"


def test_odd_identities_are_reported(tmp_path: pathlib.Path, pool: capool.CAPool) -> None:
    profile = issue.LeafProfile(
        uris=(SPIFFE, "spiffe://cluster.local/other"),
        extra_extensions=((x509.UnrecognizedExtension(podidentity.OID, b"\x05\x00"), False),),
    )
    result = issue.issue_leaf(
        public_key=ec.generate_private_key(ec.SECP384R1()).public_key(),
        profile=profile,
        max_expiration_seconds=3600,
        ca=pool.signing_ca,
        clock=clock.SystemClock(),
    )
    assert isinstance(result, issue.IssuedLeaf)

    output = run(write(tmp_path, "chain.pem", result.chain_pem)).stdout

    assert "  SPIFFE ID:   none (an SVID has exactly one URI SAN)\n" in output
    assert "  PodIdentity: present but malformed (PodIdentity: not a SEQUENCE)\n" in output
    assert "  key:         ECDSAP384 SHA256:" in output


def test_service_dns_name_forms_are_explained(
    tmp_path: pathlib.Path, pool: capool.CAPool, key: ec.EllipticCurvePrivateKey
) -> None:
    names = ("db-0.db.shop.svc", "db.shop.svc", "db.shop.svc.clusterset.local")
    result = issue.issue_leaf(
        public_key=key.public_key(),
        profile=issue.LeafProfile(dns_names=names),
        max_expiration_seconds=3600,
        ca=pool.signing_ca,
        clock=clock.SystemClock(),
    )
    assert isinstance(result, issue.IssuedLeaf)
    output = run(write(tmp_path, "chain.pem", result.chain_pem)).stdout
    assert "  DNS:         db-0.db.shop.svc, db.shop.svc, db.shop.svc.clusterset.local" in output
    assert "    db-0.db.shop.svc: pod db-0 of headless Service db in namespace shop" in output
    assert "    db.shop.svc: Service db in namespace shop" in output
    multi = "    db.shop.svc.clusterset.local: Service db in namespace shop, under .svc.clusterset."
    assert multi + "local" in output
