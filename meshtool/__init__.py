"""meshtool: Kubernetes Pod Certificate signers and their tooling."""

__version__ = "0.1.0"
