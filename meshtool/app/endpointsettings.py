"""The bundle endpoint's settings group (`--bundle-endpoint-*`, `--bundle-refresh-hint`).

Nested in `ControllerSettings.bundle_endpoint`; off unless `listen` is set. `problem` checks the
group against the rest of the settings (the endpoint serves the spiffe signer's bundle, so it
needs that signer; https_web needs its files; the endpoint's SPIFFE ID must name a workload of
our trust domain) and answers the first problem as one sentence naming the flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from meshtool.app import health
from meshtool.app.flagfields import flag
from meshtool.signers import spiffeid

BUNDLE_ENDPOINT_PROFILES = ("https_spiffe", "https_web")
BUNDLE_ENDPOINT_PATH = "/meshtool/bundle-endpoint"
"""The path of the endpoint's default SPIFFE ID in our trust domain."""


@dataclass(frozen=True, slots=True)
class BundleEndpointSettings:
    """The SPIFFE bundle endpoint (docs/decisions/0006); off unless `listen` is set."""

    listen: str | None = flag(
        None,
        "HOST:PORT of the SPIFFE bundle endpoint (HTTPS: the bundle at /, each signer's "
        "anchors); '' turns it off.",
        unset="off",
    )
    profile: str = flag(
        "https_spiffe",
        "How the endpoint authenticates: an X509-SVID of our trust domain (https_spiffe) or "
        "a Web PKI certificate from files (https_web).",
        choices=BUNDLE_ENDPOINT_PROFILES,
    )
    cert_file: Path | None = flag(  # noqa: RUF009 - flag() is a dataclasses.field()
        None, "https_web: the serving certificate chain (PEM), reloaded on change.", unset="none"
    )
    key_file: Path | None = flag(  # noqa: RUF009 - flag() is a dataclasses.field()
        None, "https_web: the serving key (PEM), reloaded on change.", unset="none"
    )
    spiffe_id: str | None = flag(
        None,
        "https_spiffe: the SPIFFE ID the endpoint's X509-SVID names.",
        unset=f"spiffe://<trust domain>{BUNDLE_ENDPOINT_PATH}",
    )
    refresh_hint: int = flag(
        300, "spiffe_refresh_hint of the served bundle, in seconds.", name="bundle-refresh-hint"
    )

    def endpoint_id(self, trust_domain: str) -> str:
        return self.spiffe_id or f"spiffe://{trust_domain}{BUNDLE_ENDPOINT_PATH}"

    def problem(self, trust_domain: str, spiffe_enabled: bool) -> str | None:
        if not self.listen:
            return None
        try:
            health.split_address(self.listen)
        except ValueError as exc:
            return str(exc).replace("--health-address", "--bundle-endpoint-listen")
        checks = (
            (not spiffe_enabled, "--bundle-endpoint-listen needs --enable-spiffe-signer"),
            (self.profile not in BUNDLE_ENDPOINT_PROFILES, "--bundle-endpoint-profile must be "
             "https_spiffe or https_web"),
            (self.profile == "https_web" and not (self.cert_file and self.key_file),
             "--bundle-endpoint-profile=https_web needs --bundle-endpoint-cert-file and "
             "--bundle-endpoint-key-file"),
            (self.refresh_hint < 1, "--bundle-refresh-hint must be at least 1 second"),
        )  # fmt: skip
        for failed, message in checks:
            if failed:
                return message
        return self._id_problem(trust_domain)

    def _id_problem(self, trust_domain: str) -> str | None:
        try:
            parsed = spiffeid.parse(self.endpoint_id(trust_domain))
        except spiffeid.InvalidSpiffeId as exc:
            return f"--bundle-endpoint-spiffe-id: {exc}"
        if parsed.trust_domain != trust_domain or not parsed.path:
            return (
                f"--bundle-endpoint-spiffe-id {self.spiffe_id!r} must name a workload of "
                f"--spiffe-trust-domain {trust_domain!r}"
            )
        return None
