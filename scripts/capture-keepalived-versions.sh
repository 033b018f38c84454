#!/usr/bin/env bash
# Records what each keepalived of the version matrix says about itself, for the capability tests:
# the output of `keepalived -v` and of `keepalived --signum=DATA|STATS|JSON`, stdout and stderr apart.
# Only asks the binaries; starts no daemon. Build them first: scripts/keepalived-matrix.sh build
# Usage: scripts/capture-keepalived-versions.sh [OUT_DIR]   (default test/fixtures/keepalived/versions)
set -euo pipefail
here=$(dirname "$0")
out=${1:-"$here/../test/fixtures/keepalived/versions"}

built=$("$here/keepalived-matrix.sh" list)
[ -n "$built" ] || { echo "no keepalived built: run scripts/keepalived-matrix.sh build" >&2; exit 1; }
while IFS=$'\t' read -r flavour binary; do
  dir="$out/$flavour"
  mkdir -p "$dir"
  # Named after the arguments, as test/keepalived/capabilities.test.ts replays them.
  capture() { # capture NAME ARGS...
    local name=$1; shift
    timeout 10 "$binary" "$@" > "$dir/$name.stdout" 2> "$dir/$name.stderr" || true
  }
  capture v -v
  for fn in DATA STATS JSON; do capture "signum-$fn" "--signum=$fn"; done
  echo "$flavour: $(head -n 1 "$dir/v.stderr")"
done <<< "$built"
