"""Test infrastructure shipped with the package, like controller-runtime's envtest.

`controlplane` runs a real kube-apiserver and etcd (binaries from `binaries`); `kubelet`
simulates a node's kubelet for projected certificate volumes; `pytest_plugin` provides the
fixtures; `fleet`, `pcrforms` and `controllerproc` build cluster objects, kubelet-shaped
requests and controller processes for tests, the benchmark and the demo.
"""
