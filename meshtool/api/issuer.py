"""The cluster's service-account issuer: what `--cluster-issuer` means and how it is read.

`--cluster-issuer` is `discover` (read `issuer` from kube-apiserver's OIDC discovery document,
`GET /.well-known/openid-configuration`), `none` (issue without the caIssuers extension), or
the issuer URL itself. An issuer must be an absolute https URL with a host and no query or
fragment (what OIDC discovery requires of an issuer identifier), because every certificate
names anchors under it (`meshtool.api.anchorpaths.url`), which clients fetch over HTTPS.

Pure: `meshtool.app.startup` does the GET and the retries.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

DISCOVER = "discover"
NONE = "none"
DISCOVERY_PATH = "/.well-known/openid-configuration"


class IssuerError(ValueError):
    """An issuer (flag or discovery document) that cannot be named in certificates."""


def problem(url: str) -> str | None:
    """Why `url` is not a usable issuer, in a few words; None when it is one."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - a malformed port raises only when read
    except ValueError as exc:
        return f"{url!r} is not a URL ({exc})"
    if parts.scheme != "https" or not parts.hostname:
        return f"{url!r} is not an https URL with a host"
    if parts.query or parts.fragment:
        return f"{url!r} has a query or fragment"
    return None


def setting_problem(setting: str) -> str | None:
    """Why the value of `--cluster-issuer` is wrong; None when it is fine."""
    if setting in (DISCOVER, NONE):
        return None
    found = problem(setting)
    return None if found is None else f"--cluster-issuer: {found}; or use discover or none"


def from_discovery(document: Any) -> str:
    """The `issuer` of an OIDC discovery document; raises `IssuerError` naming the problem."""
    issuer = document.get("issuer") if isinstance(document, dict) else None
    if not isinstance(issuer, str) or not issuer:
        raise IssuerError(f"{DISCOVERY_PATH} has no issuer string")
    found = problem(issuer)
    if found is not None:
        raise IssuerError(f"the issuer in {DISCOVERY_PATH}: {found}")
    return issuer
