#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine (root, Node 20): installs what it needs, builds,
# then runs the unit tests and the lab tests (real keepalived in network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --tests
npx tsc -p tsconfig.json --noEmit
npx vitest run "$@"
