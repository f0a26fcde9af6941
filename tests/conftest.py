"""Shared test configuration. Fixtures for integration tests come from the `meshtool` pytest
plugin (meshtool.testing.pytest_plugin, registered as a pytest11 entry point)."""
