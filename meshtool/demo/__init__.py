"""The example workloads: `demo-server` and `https-client`.

`credentials` turns kubelet-projected files into TLS contexts that follow rotation (`ssl` for
the client, pyOpenSSL for the server), `spiffe` verifies SVID chains and leaves, and `server`
and `client` are the two programs the example manifests run.
"""
