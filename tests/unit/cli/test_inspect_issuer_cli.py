"""`meshtool inspect` shows a leaf's issuer URL, and with --fetch-anchors fetches the anchors
from it over HTTPS (a real local server) and verifies the chain against them."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest
from click.testing import CliRunner

from meshtool import clock
from meshtool.api import anchorpaths
from meshtool.cli import root
from meshtool.pki import caissuers, pem
from meshtool.testing import anchorserver
from meshtool.testing.anchorserver import Answer
from tests.unit.anchorclient import chains

SYSTEM = clock.SystemClock()


def run(*args: str) -> Any:
    return CliRunner().invoke(root, ["inspect", *args])


@pytest.fixture
def server():
    with anchorserver.serving() as running:
        yield running


def write_chain(tmp_path: pathlib.Path, issuer: str | None, pool=None) -> tuple[pathlib.Path, Any]:
    pool = pool or chains.pool(SYSTEM)
    certs = chains.leaf_chain(pool, SYSTEM, issuer=issuer)
    path = tmp_path / "chain.pem"
    path.write_text(pem.encode(list(certs)))
    return path, pool


def test_the_issuer_url_is_shown(tmp_path) -> None:
    path, _ = write_chain(tmp_path, "https://issuer.example")
    result = run(str(path))
    assert result.exit_code == 0, result.output
    url = anchorpaths.url("https://issuer.example", chains.SIGNER)
    assert f"  issuer URL:  {url}\n" in result.output
    assert f"    issuing cluster https://issuer.example, signer {chains.SIGNER}\n" in result.output


def test_a_leaf_without_an_issuer_shows_none(tmp_path) -> None:
    path, _ = write_chain(tmp_path, None)
    assert "issuer URL" not in run(str(path)).output


def test_fetch_anchors_verifies_against_the_issuers_anchors(tmp_path, server) -> None:
    path, pool = write_chain(tmp_path, server.url)
    anchors_path = anchorpaths.path(chains.SIGNER, "p7c")
    server.answers[anchors_path] = Answer(caissuers.encode([pool.signing_ca.root]))
    result = run(str(path), "--fetch-anchors", "--issuer-ca-file", str(server.ca_file))
    assert result.exit_code == 0, result.output
    assert server.hits == [anchors_path]
    assert f"anchors from {server.url}{anchors_path}: 1 certificate(s)\n" in result.output
    assert "chain verifies against the issuer's anchors: 2 certificate(s)" in result.output


def test_fetch_anchors_fails_on_anchors_of_another_ca(tmp_path, server) -> None:
    path, _ = write_chain(tmp_path, server.url)
    other = chains.pool(SYSTEM, ca_id="other")
    server.answers[anchorpaths.path(chains.SIGNER)] = Answer(
        caissuers.encode([other.signing_ca.root])
    )
    result = run(str(path), "--fetch-anchors", "--issuer-ca-file", str(server.ca_file))
    assert result.exit_code == 1
    assert (
        "meshtool: error: issuer anchors: chain does not verify against the anchors of"
        in result.output
    )


def test_fetch_anchors_fails_when_the_server_is_not_trusted(tmp_path, server) -> None:
    path, _ = write_chain(tmp_path, server.url)
    result = run(str(path), "--fetch-anchors")
    assert result.exit_code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.output
    assert server.hits == []


def test_fetch_anchors_needs_an_issuer_url(tmp_path) -> None:
    path, _ = write_chain(tmp_path, None)
    result = run(str(path), "--fetch-anchors")
    assert result.exit_code == 1
    assert "the leaf names no issuer" in result.output
