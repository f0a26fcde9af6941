"""The credential folder: discovery, one immutable `State` per read, and following kubelet swaps."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from meshtool.workload import folder, source

from .workload_pki import Folder, make_ca, root_pem, serving_credential, svid

A, B = "a.example", "b.example"
ME = f"spiffe://{A}/ns/demo/sa/me"


def read(root: Path) -> folder.State:
    files = folder.in_folder(str(root))()
    return folder.parse({name: source.snapshot(path) for name, path in files.items()})


def test_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "run", tmp_path / "var-run"
    monkeypatch.setattr(folder, "WELL_KNOWN", (str(first), str(second)))
    env = {folder.ENVIRONMENT: "/from/env"}
    assert folder.discover("/explicit", environ=env) == "/explicit"
    assert folder.discover(None, environ=env) == "/from/env"
    with pytest.raises(folder.FolderError, match="SPIFFE_CREDENTIAL_FOLDER unset"):
        folder.discover(None, environ={})
    second.mkdir()
    assert folder.discover(None, environ={}) == str(second)
    first.mkdir()
    assert folder.discover(None, environ={folder.ENVIRONMENT: ""}) == str(first)


def test_state_holds_our_id_and_one_bundle_per_trust_domain(tmp_path: Path) -> None:
    ca_a, ca_b = make_ca(A, "ed25519"), make_ca(B, "ecdsa-p256")
    files = Folder(tmp_path)
    files.write(svid(ca_a, ME), **{A: root_pem(ca_a), B: root_pem(ca_b)})
    state = read(tmp_path)
    assert (str(state.spiffe_id), state.trust_domain) == (ME, A)
    assert {td: [c.subject for c in certs] for td, certs in state.bundles.items()} == {
        A: [ca_a.root.subject],
        B: [ca_b.root.subject],
    }
    with pytest.raises(TypeError):
        state.bundles[A] = ()  # type: ignore[index]  # read-only
    assert ".." not in "".join(folder.in_folder(str(tmp_path))())  # the kubelet's own entries


def test_an_empty_trust_bundle_means_no_bundle(tmp_path: Path) -> None:
    ca_a = make_ca(A, "ed25519")
    Folder(tmp_path).write(svid(ca_a, ME), **{A: root_pem(ca_a), B: b""})
    assert sorted(read(tmp_path).bundles) == [A]


def test_a_leaf_that_is_not_an_svid_has_no_spiffe_id(tmp_path: Path) -> None:
    ca_a = make_ca(A, "ed25519")
    Folder(tmp_path).write(serving_credential(ca_a), **{A: root_pem(ca_a)})
    state = read(tmp_path)
    assert (state.spiffe_id, state.trust_domain, sorted(state.bundles)) == (None, None, [A])


def test_a_leaf_with_a_malformed_spiffe_id_is_refused(tmp_path: Path) -> None:
    ca_a = make_ca(A, "ed25519")
    Folder(tmp_path).write(svid(ca_a, f"spiffe://{A}"), **{A: root_pem(ca_a)})
    with pytest.raises(source.InvalidMaterial, match=r"not a usable SVID: .* names a trust domain"):
        read(tmp_path)


@pytest.mark.parametrize(
    ("bundles", "credential", "reason"),
    [
        ({"Not_A_TD": b"x"}, None, "Not_A_TD.spiffe-trust-bundle.pem: not named after a trust"),
        ({A: b"-----BEGIN CERTIFICATE-----\nnope\n"}, None, "unreadable trust bundle"),
        ({}, b"", "credential-bundle.pem: unusable"),
        ({}, "mismatched", "does not match the leaf"),
    ],
)
def test_a_bad_folder_is_refused_whole(tmp_path: Path, bundles, credential, reason: str) -> None:
    ca_a = make_ca(A, "ed25519")
    good = svid(ca_a, ME)
    if credential == "mismatched":
        other = svid(ca_a, ME)
        cut = b"-----BEGIN CERTIFICATE"
        credential = other[: other.index(cut)] + good[good.index(cut) :]
    Folder(tmp_path).write(good if credential is None else credential, **bundles)
    with pytest.raises(source.InvalidMaterial, match=reason):
        read(tmp_path)


def test_following_a_folder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    ca_a, ca_b = make_ca(A, "ecdsa-p256"), make_ca(B, "ecdsa-p256")
    files = Folder(tmp_path)
    builds: list[folder.State] = []
    followed = folder.follow(folder.in_folder(str(tmp_path)), builds.append, str(tmp_path))
    with pytest.raises(source.InvalidMaterial, match="no usable TLS material yet"):
        followed.current()
    files.write(svid(ca_a, ME), **{A: root_pem(ca_a), B: root_pem(ca_b)})
    assert followed.refresh()
    first, _ = followed.current()
    assert not followed.refresh()  # nothing changed: nothing read, nothing built
    assert len(builds) == 1

    files.write(b"-----BEGIN PRIVATE KEY-----\ntruncated", **{A: root_pem(ca_a)})
    assert not followed.refresh()
    assert not followed.refresh()  # the same bad files are not retried, nor logged again
    assert followed.current()[0] is first
    refusals = [r for r in caplog.records if "ignoring TLS material" in r.getMessage()]
    assert len(refusals) == 1
    assert "-----BEGIN" not in refusals[0].getMessage()

    files.write(svid(ca_a, ME), **{A: root_pem(ca_a)})  # B's file removed: de-federated
    assert followed.refresh()
    assert sorted(followed.current()[0].bundles) == [A]
