"""A real one-node Kubernetes cluster on this machine, without Docker (`make cluster`).

`meshtool.testing.node.cluster` starts etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, containerd (with runc), one kubelet, kube-proxy and CoreDNS from the binaries
`hack/k8s-binaries.sh` and `hack/node-binaries.sh` cache, imports the images
`hack/node-images.sh` built, and leaves them running; `down()` removes every process, mount,
cgroup, link, iptables rule and host path it created. Run it as `python -m meshtool.testing.node
up|down|status|restart-kubelet`. One such cluster per machine: the kubelet's ports, `cni0`, the
`kubepods` cgroups and some host paths are machine-wide.
"""
