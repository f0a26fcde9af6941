#!/usr/bin/env bash
# Build everything a real node on this machine needs, from the Go module proxy:
#   kubelet, kube-controller-manager, kube-scheduler, kube-proxy  (tools/node-v1.37, k8s v1.37.2)
#   containerd, ctr, containerd-shim-runc-v2                      (tools/containerd-v2.4, v2.4.2)
#   runc (cgo, -tags seccomp)                                     (tools/runc-v1.5, v1.5.3)
#   CNI plugins bridge, host-local, loopback, portmap             (tools/cni-plugins-v1.10, v1.10.0)
#   coredns                                                       (tools/coredns-v1.15, v1.15.0)
#
# Binaries land in ${XDG_CACHE_HOME:-~/.cache}/meshtool/node/<group>/ next to a stamp holding
# the hash of the wrapper module (go.mod, go.sum) and of this script's build recipe; a group whose
# stamp matches is not rebuilt. Debian packages the builds need (libseccomp-dev, gcc, pkg-config)
# and the node needs at run time (iptables, nftables, iproute2) are installed when missing.
# Arguments: groups to build (default: all).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/meshtool/node"
export GOFLAGS=-mod=readonly GOTOOLCHAIN=local CGO_ENABLED=0
K8S=v1.37.2
GROUPS_ALL=(kubernetes containerd runc cni coredns)

log() { echo "node-binaries: $*"; }

apt_ensure() { # debian packages...
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

k8s_ldflags() {
  local v="${K8S#v}" ld="-s -w"
  local maj="${v%%.*}" min; min="$(echo "$v" | cut -d. -f2)"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$K8S -X $p.gitMajor=$maj -X $p.gitMinor=$min -X $p.gitTreeState=clean"
  done
  echo "$ld"
}

# group -> "module-dir"
module_of() {
  case "$1" in
    kubernetes) echo node-v1.37 ;;
    containerd) echo containerd-v2.4 ;;
    runc) echo runc-v1.5 ;;
    cni) echo cni-plugins-v1.10 ;;
    coredns) echo coredns-v1.15 ;;
    *) echo "node-binaries: unknown group '$1' (known: ${GROUPS_ALL[*]})" >&2; return 1 ;;
  esac
}

# The recipe of one group: "output package [flags...]" lines. Part of the stamp.
recipe_of() {
  case "$1" in
    kubernetes)
      for c in kubelet kube-controller-manager kube-scheduler kube-proxy; do
        echo "$c k8s.io/kubernetes/cmd/$c"
      done ;;
    containerd)
      local m=github.com/containerd/containerd/v2
      echo "containerd $m/cmd/containerd -X $m/version.Version=v2.4.2"
      echo "ctr $m/cmd/ctr -X $m/version.Version=v2.4.2"
      echo "containerd-shim-runc-v2 $m/cmd/containerd-shim-runc-v2 -X $m/version.Version=v2.4.2" ;;
    runc) echo "runc github.com/opencontainers/runc -X main.version=1.5.3" ;;
    cni)
      local p=github.com/containernetworking/plugins/plugins
      for c in main/bridge ipam/host-local main/loopback meta/portmap; do echo "${c#*/} $p/$c"; done ;;
    coredns) echo "coredns github.com/coredns/coredns" ;;
  esac
}

stamp_of() {
  local dir="$ROOT/tools/$(module_of "$1")"
  { cat "$dir/go.mod" "$dir/go.sum"; recipe_of "$1"; go version; } | sha256sum | cut -c1-16
}

build_one() { # group, module dir, output, package, ldflags
  local label="$1/$(basename "$3")" dir="$2" out="$3" pkg="$4" ld="$5" start=$SECONDS
  local tags=() cgo=0
  if [[ "$1" == runc ]]; then tags=(-tags seccomp); cgo=1; fi
  log "building $label..."
  (cd "$dir" && CGO_ENABLED=$cgo go build -trimpath "${tags[@]}" -ldflags "$ld" -o "$out.tmp" "$pkg") &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do  # poll each second (honest times), report every 15 s
    sleep 1
    if (( (SECONDS - start) % 15 == 0 )) && kill -0 "$pid" 2>/dev/null; then
      log "  ... $label still building ($((SECONDS - start))s)"
    fi
  done
  wait "$pid"
  mv "$out.tmp" "$out"
  log "built $label in $((SECONDS - start))s"
}

build_group() {
  local g="$1" dest="$CACHE/$1" stamp dir
  dir="$ROOT/tools/$(module_of "$g")"
  stamp="$(stamp_of "$g")"
  if [[ -f "$dest/stamp" && "$(cat "$dest/stamp")" == "$stamp" ]]; then
    log "$g cached in $dest"
    return 0
  fi
  command -v go >/dev/null || { log "Go is not installed; cannot build $g" >&2; return 1; }
  [[ "$g" == runc ]] && apt_ensure gcc libc6-dev libseccomp-dev pkg-config
  mkdir -p "$dest"
  rm -f "$dest/stamp"
  local start=$SECONDS name pkg extra ld
  while read -r name pkg extra; do
    if [[ "$g" == kubernetes ]]; then ld="$(k8s_ldflags)"; else ld="-s -w ${extra:-}"; fi
    build_one "$g" "$dir" "$dest/$name" "$pkg" "$ld"
  done < <(recipe_of "$g")
  echo "$stamp" > "$dest/stamp"
  log "$g ready in $dest ($((SECONDS - start))s)"
}

main() {
  # What the running node needs from Debian: iptables for kube-proxy (iptables mode), nft for
  # the teardown's table cleanup, iproute2 for the links, mount/umount.
  apt_ensure iptables nftables iproute2 mount
  local groups=("$@")
  [[ ${#groups[@]} -eq 0 ]] && groups=("${GROUPS_ALL[@]}")
  for g in "${groups[@]}"; do build_group "$g"; done
}

main "$@"
