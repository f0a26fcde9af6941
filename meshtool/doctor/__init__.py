"""`meshtool doctor`: a preflight and health report of a cluster for meshtool's controller.

Three layers, top to bottom: `meshtool.cli.doctor` parses flags into a `target.Target`;
`observe` reads what the checks need (API discovery, SubjectAccessReviews, pool Secrets,
ClusterTrustBundles, Leases, PodCertificateRequests, Events) through `meshtool.kube`; and one
pure module per check turns those observations into `findings.Finding` lines: `apis`,
`permissions`, `pools` (pool Secrets and their bundles), `replicas` (Leases) and `requests`
(pending requests and denials). The pure checks reuse the controller's own rules
(`pki.expiry`, `controllers.trustbundle.desired_bundles`, `api.versions`), so the doctor and
the controller can never disagree about what healthy means.
"""
