"""The only package that speaks HTTP to kube-apiserver.

`client.KubeClient` sends raw JSON (no generated models) over lightkube's config layer;
`errors` is the error hierarchy every caller handles; `resources` names where kinds live.
"""
