#!/usr/bin/env bash
# The image's pinned Python packages, with hashes, from pyproject.toml:
#   requirements.lock        [project] dependencies: everything the runtime image contains
#   requirements-build.lock  pip and the build backend ([build-system] requires): the builder
#                            stage only, never the final image
# `hack/lock.sh` (`make lock`) rewrites both; `hack/lock.sh --check` (`make lock-check`, run by
# CI) regenerates them into a temporary folder and fails with a diff when either is stale.
# Versions already pinned are kept (uv prefers an output file's pins), so a new release upstream
# does not make the check fail; only a change of pyproject.toml does. The resolution is
# universal (environment markers kept) for CPython 3.11, Debian bookworm's Python.
# uv comes from the dev dependency group (pinned there) in .venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UV="${UV:-$ROOT/.venv/bin/uv}"
LOCKS=(requirements.lock requirements-build.lock)

compile() { # input, output
  "$UV" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
    --custom-compile-command "make lock" --no-progress --output-file "$2" "$1"
}

build_requirements() { # [build-system] requires, one a line
  sed -n 's/^requires = \[\(.*\)\]/\1/p' "$ROOT/pyproject.toml" | tr ',' '\n' | tr -d ' "'
  echo pip
}

write_locks() { # folder
  local build_in; build_in="$(mktemp --suffix=.in)"
  build_requirements > "$build_in"
  (cd "$ROOT" && compile pyproject.toml "$1/requirements.lock")
  compile "$build_in" "$1/requirements-build.lock"
  sed -i "s#via -r $build_in#via [build-system] requires (pyproject.toml) and pip#" \
    "$1/requirements-build.lock"
  rm -f "$build_in"
}

[[ -x "$UV" ]] || { echo "lock: $UV is missing; run 'make check' once to create .venv" >&2; exit 1; }
if [[ "${1:-}" == "--check" ]]; then
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  for lock in "${LOCKS[@]}"; do [[ -f "$ROOT/$lock" ]] && cp "$ROOT/$lock" "$tmp/"; done
  write_locks "$tmp"
  for lock in "${LOCKS[@]}"; do
    diff -u "$ROOT/$lock" "$tmp/$lock" || {
      echo "lock: $lock is not current with pyproject.toml; run 'make lock' and commit it" >&2
      exit 1
    }
  done
  echo "lock: ${LOCKS[*]} are current"
else
  write_locks "$ROOT"
  echo "lock: wrote ${LOCKS[*]}"
fi
