"""Clients of the issuing cluster named in a certificate: find it, fetch its anchors, verify.

A leaf meshtool issued names its signer's trust anchors under the cluster's issuer in an
Authority Information Access caIssuers URL (`meshtool.pki.caissuers`, docs/decisions/0005).
`discovery` is the pure part (which URL, what the fetched document means, whether the chain
verifies against it); `fetch` is the one HTTPS GET, bounded in size and time, verifying the
server against a given CA file or the system trust store. Nothing here trusts a certificate
because of where its anchors came from: the caller decides whether that URL is one it trusts.
"""
