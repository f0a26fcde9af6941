"""Test infrastructure shipped with the package, like controller-runtime's envtest.

`controlplane` runs a real kube-apiserver and etcd (binaries from `binaries`); `kubelet`
simulates a node's kubelet for projected certificate volumes; `pytest_plugin` provides the
fixtures; `fleet`, `pcrforms` and `controllerproc` build cluster objects, kubelet-shaped
requests and controller processes for tests, the benchmark and the demo.

Nothing here but `pytest_plugin` needs pytest or any other test-only dependency, and the plugin
is not an entry point: a suite opts in with `pytest_plugins = ["meshtool.testing.pytest_plugin"]`.
Only `meshtool.cli` and `meshtool.localdemo` may import this package (import-linter).
"""
