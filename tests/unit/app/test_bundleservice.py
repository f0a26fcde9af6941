"""The bundle endpoint component: cache lookup by primary name, health lines, scrape-time gauges."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from meshtool.api import trustbundle
from meshtool.app import bundleservice
from meshtool.app.settings import BundleEndpointSettings, ControllerSettings, SignerSettings
from meshtool.clock import FakeClock
from meshtool.controllers.metrics import Metrics

SPIFFE = "row-major.net/spiffe"
SEQ = "spiffe.row-major.net/bundle-sequence"
SETTINGS = ControllerSettings(
    spiffe=SignerSettings(True, Path("pool")),
    bundle_endpoint=BundleEndpointSettings(listen="127.0.0.1:0"),
)


def service(cache, settings=SETTINGS):
    metrics = Metrics()
    made = bundleservice.BundleService(
        settings,
        bundles=cache.get,
        spiffe_pool=lambda: None,
        may_sign=lambda signer, ca: True,
        signers=(SPIFFE,),
        clock=FakeClock(),
        metrics=metrics,
    )
    return made, metrics


def test_lookup_is_by_primary_name_and_signer():
    own = trustbundle.TrustBundle(trustbundle.bundle_name(SPIFFE), SPIFFE, annotations={SEQ: "4"})
    other = trustbundle.TrustBundle("row-major.net:spiffe:peer-example.org", SPIFFE)
    made, metrics = service({own.name: own, other.name: other})
    assert made.lookup(SPIFFE) is own
    assert made.routes.sequence_annotation == SEQ and made.routes.refresh_hint == 300
    assert metrics.registry.get_sample_value("meshtool_bundle_endpoint_sequence") == 4.0
    impostor = dataclasses.replace(own, signer_name="example.org/x")
    assert service({own.name: impostor})[0].lookup(SPIFFE) is None


def test_problem_and_report_until_there_is_a_certificate():
    made, metrics = service({})
    assert made.problem() == "bundle endpoint (https_spiffe): no X509-SVID yet"
    made.credentials.refresh()
    assert "CA pool is not loaded" in (made.problem() or "")
    assert made.report() == [made.problem()]
    assert metrics.registry.get_sample_value("meshtool_bundle_endpoint_sequence") == 0.0
    assert (
        metrics.registry.get_sample_value(
            "meshtool_bundle_endpoint_certificate_not_after_timestamp_seconds"
        )
        == 0.0
    )


def test_web_profile_reads_files(tmp_path):
    config = BundleEndpointSettings(
        listen="127.0.0.1:0",
        profile="https_web",
        cert_file=tmp_path / "c",
        key_file=tmp_path / "k",
    )
    made, _ = service({}, dataclasses.replace(SETTINGS, bundle_endpoint=config))
    assert (
        made.problem()
        == f"bundle endpoint (https_web): no certificate loaded from {tmp_path / 'c'} yet"
    )
