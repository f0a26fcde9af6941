"""Version skew during an upgrade to 1.37: kubelets not yet upgraded still write v1beta1
requests (1.35: pkixPublicKey + proof of possession; 1.36: a stub CSR), and a controller
speaking v1 must still issue them. Runs on the first version of MESHTOOL_K8S_VERSIONS (1.37 by
default); only 1.37 serves both APIs."""

from __future__ import annotations

import pytest

from meshtool.testing import fleet
from meshtool.testing.pcrforms import KeyForm

from .conftest import ctb_source, make_pod, signer_name
from .verify import credential, verify


@pytest.mark.parametrize("form", [KeyForm.PKIX, KeyForm.STUB], ids=["1.35-kubelet", "1.36-kubelet"])
async def test_requests_of_older_kubelets_are_issued_by_a_v1_controller(
    kube, namespace, control_plane, start_controller, start_kubelet, form
):
    if control_plane.version != "1.37":
        pytest.skip("only 1.37 serves v1 next to v1beta1")
    await start_controller(signers=("spiffe",))
    # A not-yet-upgraded kubelet writes v1beta1 (1.35: pkixPublicKey; 1.36: stub CSR).
    sim = await start_kubelet(pcr_version="v1beta1", key_form=form)
    source = fleet.pod_certificate_source(signer_name("spiffe"), path="svid.pem")
    ca = ctb_source("spiffe", "ca.pem", {})
    await make_pod(kube, namespace, "old", node=sim.node_name, sources=[source, ca])
    await sim.wait_ready(namespace, "old", timeout=90)
    volume = sim.volume_dir(namespace, "old", "creds")
    svid = credential(volume / "svid.pem")
    verify(svid.chain, (volume / "ca.pem").read_bytes())
