"""Where a signer's trust anchors are served under the cluster's issuer URL.

Every certificate meshtool issues names its issuing cluster: an Authority Information Access
`caIssuers` URL under the cluster's service-account issuer (docs/decisions/0005). The path part
is fixed here, so the signers that embed the URL and the bundle endpoint that serves it agree:

    <issuer>/.well-known/meshtool/signers/<signer name>/anchors.p7c   (DER PKCS#7 certs-only,
                                                                     what RFC 5280 4.2.2.1 asks)
    <issuer>/.well-known/meshtool/signers/<signer name>/anchors.pem   (the same roots as PEM)

A signer name is `<domain>/<path>`, so it spans two or more path segments; `parse_path` splits
at the last `/anchors.` and refuses anything that is not one of the two formats. Pure.
"""

from __future__ import annotations

PREFIX = "/.well-known/meshtool/signers/"
FORMATS = ("p7c", "pem")


def path(signer_name: str, fmt: str = "p7c") -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown anchor format {fmt!r}")
    return f"{PREFIX}{signer_name}/anchors.{fmt}"


def url(issuer: str, signer_name: str, fmt: str = "p7c") -> str:
    """The anchors URL of `signer_name` under `issuer` (one trailing `/` of the issuer dropped)."""
    return issuer.removesuffix("/") + path(signer_name, fmt)


def parse_path(request_path: str) -> tuple[str, str] | None:
    """(signer name, format) for an anchors path, None for any other path."""
    if not request_path.startswith(PREFIX):
        return None
    signer_name, sep, fmt = request_path[len(PREFIX) :].rpartition("/anchors.")
    if not sep or fmt not in FORMATS or "/" not in signer_name or signer_name.startswith("/"):
        return None
    return signer_name, fmt
