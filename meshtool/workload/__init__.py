"""SPIFFE filesystem delivery for application authors: a credential folder, followed, and TLS.

A pod mounts one projected volume with a `podCertificate` source written as
`credential-bundle.pem` and one `clusterTrustBundle` source per trust domain written as
`<trust-domain>.spiffe-trust-bundle.pem`. This package reads such a folder and verifies peers
against the bundle of *their own* trust domain, never a merged root store:

* `folder`: `discover` the folder, `in_folder` its files, `parse` them into one immutable
  `State` (credential, our SPIFFE ID, trust domain -> anchors), `follow` it as the kubelet
  swaps `..data` (each refresh one `stat` per file; a bad new state is refused, the old stays);
* `tls`: `server_context` (pyOpenSSL; `verify_client` after the handshake) and
  `client_context` (stdlib `ssl`, trusting exactly the server's trust domain; `verify_server`);
* `peer`: `Allowed` (SPIFFE IDs and trust domains) and `verify_chain`, usable with any TLS stack;
* `svid`: the X509-SVID leaf rules; `source`: the stat-following reloader underneath.

`meshtool demo-server --credential-folder` and `meshtool https-client --credential-folder` are
the worked examples (meshtool/demo/server.py, client.py).
"""
