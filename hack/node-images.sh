#!/usr/bin/env bash
# Build the local cluster's container images without a Docker daemon or a registry:
#   debian:bookworm-slim  base for the Dockerfile's FROM, made with mmdebstrap (+ python3)
#   meshtool:latest       the repository's Dockerfile, built by buildah on that base
#   localhost/pause:1     a static C pause() loop (gcc -static), one layer
#   localhost/coredns:v1.15.0  the CoreDNS binary from hack/node-binaries.sh, one layer
# Each image is written as a docker-archive into ${XDG_CACHE_HOME:-~/.cache}/meshtool/node/images/
# with a stamp holding the hash of its inputs; an image whose stamp matches is not rebuilt.
# The cluster (meshtool.testing.node) imports the archives with `ctr -n k8s.io images import`.
#
# Python packages: PyPI is reached through a TLS-intercepting proxy whose CA a build container
# lacks, so the wheels pinned by requirements.lock and requirements-build.lock are downloaded on
# the host (`pip download --require-hashes`) and bind-mounted at /wheels with an /etc/pip.conf
# saying `no-index`/`find-links = /wheels` for the Dockerfile's RUN steps. The host's Python
# chooses the wheels, so it must be a CPython 3.11 on Linux like the image's (bookworm's).
# Debian's mirror is read from this machine's apt sources at run time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/meshtool/node"
OUT="$CACHE/images"
STORE="$OUT/buildah-storage"
BUILDAH=(buildah --storage-driver vfs --root "$STORE" --runroot /run/meshtool-buildah)
PYTHON="${PYTHON:-python3}"
SUITE=bookworm

log() { echo "node-images: $*"; }

apt_ensure() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

debian_mirror() { # the first Debian archive URI this machine's apt uses
  local uri
  uri="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}' | grep -v security | head -1 || true)"
  [[ -n "$uri" ]] || uri="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; exit}}')"
  [[ -n "$uri" ]] || { echo "node-images: no Debian mirror in /etc/apt/sources.list*" >&2; return 1; }
  echo "$uri"
}

cached() { # name, stamp
  [[ -f "$OUT/$1.tar" && -f "$OUT/$1.stamp" && "$(cat "$OUT/$1.stamp")" == "$2" ]]
}

timed() { # name, stamp, function...
  local name="$1" stamp="$2" start=$SECONDS; shift 2
  if cached "$name" "$stamp"; then log "$name cached in $OUT/$name.tar"; return 0; fi
  rm -f "$OUT/$name.stamp"
  log "building $name..."
  "$@"
  echo "$stamp" > "$OUT/$name.stamp"
  log "built $name in $((SECONDS - start))s"
}

hash_of() { sha256sum | cut -c1-16; }

BASE_RECIPE="mmdebstrap --variant=minbase --include=python3,ca-certificates $SUITE"
base_stamp() { echo "$BASE_RECIPE" | hash_of; }
build_base() {
  local tmp; tmp="$(mktemp -d)"
  mmdebstrap --quiet --variant=minbase --include=python3,ca-certificates \
    --aptopt='Acquire::Languages "none"' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    "$SUITE" "$tmp/rootfs.tar" "$(debian_mirror)"
  local c; c="$("${BUILDAH[@]}" from scratch)"
  "${BUILDAH[@]}" add "$c" "$tmp/rootfs.tar" / >/dev/null
  "${BUILDAH[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd bash "$c"
  "${BUILDAH[@]}" commit --quiet --rm "$c" docker.io/library/debian:bookworm-slim >/dev/null
  rm -f "$OUT/debian-bookworm-slim.tar"
  "${BUILDAH[@]}" push --quiet docker.io/library/debian:bookworm-slim \
    "docker-archive:$OUT/debian-bookworm-slim.tar:debian:bookworm-slim" >/dev/null
  rm -rf "$tmp"
}

meshtool_stamp() {
  (cd "$ROOT" && { base_stamp; cat Dockerfile .dockerignore pyproject.toml README.md requirements.lock requirements-build.lock;
    find meshtool -type f ! -name '*.pyc' ! -path '*/__pycache__/*' | LC_ALL=C sort | xargs sha256sum; } | hash_of)
}
build_meshtool() {
  local wheels="$OUT/wheels"
  "${BUILDAH[@]}" inspect --type image docker.io/library/debian:bookworm-slim >/dev/null 2>&1 \
    || "${BUILDAH[@]}" pull --quiet "docker-archive:$OUT/debian-bookworm-slim.tar" >/dev/null
  rm -rf "$wheels"; mkdir -p "$wheels"
  # Everything the build installs: the locked runtime packages, pip and the build backend.
  "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes --dest "$wheels" -r "$ROOT/requirements.lock" -r "$ROOT/requirements-build.lock"
  printf '[global]\nno-index = true\nfind-links = /wheels\n' > "$OUT/pip.conf"
  "${BUILDAH[@]}" bud --quiet --isolation chroot --pull=never --layers=false \
    -v "$wheels:/wheels:ro" -v "$OUT/pip.conf:/etc/pip.conf:ro" \
    --build-arg VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml")" \
    --build-arg REVISION="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)" \
    -t localhost/meshtool-build:latest -f "$ROOT/Dockerfile" "$ROOT" >/dev/null
  rm -f "$OUT/meshtool.tar"
  "${BUILDAH[@]}" push --quiet localhost/meshtool-build:latest "docker-archive:$OUT/meshtool.tar:meshtool:latest" >/dev/null
}

PAUSE_C='#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
static void reap(int s) { (void)s; }
static void quit(int s) { (void)s; exit(0); }
int main(void) {
  signal(SIGINT, quit); signal(SIGTERM, quit); signal(SIGCHLD, reap);
  for (;;) pause();
}'
pause_stamp() { echo "$PAUSE_C" | hash_of; }
build_pause() {
  local tmp; tmp="$(mktemp -d)"
  echo "$PAUSE_C" > "$tmp/pause.c"
  gcc -Os -static -o "$tmp/pause" "$tmp/pause.c"; strip "$tmp/pause"
  one_binary_image "$tmp/pause" /pause localhost/pause:1 "$OUT/pause.tar" 65535
  rm -rf "$tmp"
}

coredns_stamp() { cat "$CACHE/coredns/stamp" | hash_of; }
build_coredns() {
  one_binary_image "$CACHE/coredns/coredns" /coredns localhost/coredns:v1.15.0 "$OUT/coredns.tar" 0
}

one_binary_image() { # binary, path in image, name, archive, uid
  local c; c="$("${BUILDAH[@]}" from scratch)"
  "${BUILDAH[@]}" copy --chmod 0755 "$c" "$1" "$2" >/dev/null
  "${BUILDAH[@]}" config --entrypoint "[\"$2\"]" --user "$5" "$c"
  "${BUILDAH[@]}" commit --quiet --rm "$c" "$3" >/dev/null
  rm -f "$4"
  "${BUILDAH[@]}" push --quiet "$3" "docker-archive:$4:$3" >/dev/null
}

# Host paths buildah creates whatever its --root/--runroot (its CNI lock, its blob-info cache):
# removed again when this script created them.
BUILDAH_HOST_PATHS=(/etc/cni /var/lib/containers /run/meshtool-buildah)
CREATED=()
for path in "${BUILDAH_HOST_PATHS[@]}"; do [[ -e "$path" ]] || CREATED+=("$path"); done
cleanup() { [[ ${#CREATED[@]} -eq 0 ]] || rm -rf "${CREATED[@]}"; }
trap cleanup EXIT

main() { # images to build (default: all)
  local images=("$@")
  [[ ${#images[@]} -eq 0 ]] && images=(meshtool pause coredns)  # meshtool builds the base
  apt_ensure buildah mmdebstrap gcc libc6-dev
  mkdir -p "$OUT"
  for image in "${images[@]}"; do
    case "$image" in
      debian-bookworm-slim) timed "$image" "$(base_stamp)" build_base ;;
      meshtool) timed debian-bookworm-slim "$(base_stamp)" build_base
                timed "$image" "$(meshtool_stamp)" build_meshtool ;;
      pause) timed "$image" "$(pause_stamp)" build_pause ;;
      coredns) [[ -f "$CACHE/coredns/stamp" ]] || "$ROOT/hack/node-binaries.sh" coredns
               timed "$image" "$(coredns_stamp)" build_coredns ;;
      *) echo "node-images: unknown image '$image'" >&2; return 1 ;;
    esac
  done
}

main "$@"
