"""The example workloads: `demo-server` and `https-client`.

`credentials` turns kubelet-projected files into `ssl` contexts that follow rotation, `spiffe`
checks SVID leaves after OpenSSL has verified their chains, and `server` and `client` are the
two programs the example manifests run.
"""
