"""The example workloads: `demo-server` and `https-client`.

Both are built on `meshtool.workload` (credential folders or separate projected files, followed
as the kubelet rotates them; peers verified with the bundle of their own trust domain):
`server` is pyOpenSSL with post-handshake client checks, `client` stdlib `ssl`, and `tlsstream`
the pyOpenSSL plumbing the server needs. The example manifests run exactly these programs.
"""
