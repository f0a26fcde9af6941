"""`meshtool demo`: the whole system on one machine, driven from the repository's manifests.

`cluster` starts the control plane, the CA pool Secrets and the controller replicas;
`manifests` turns Deployments and Services into local processes; `scenarios` runs and checks
the examples; `run` orchestrates and reports.
"""
