#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine (root, Node 20): installs what it needs, builds,
# then runs the unit tests and, one after the other, the lab tests (real keepalived in network
# namespaces) and the VM tests (a real IPVS kernel under qemu), so that none slows another's timing
# on a small machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --tests
npx tsc -p tsconfig.json --noEmit
# The direction of every folder and no import cycles (.dependency-cruiser.cjs, docs/architecture.md).
npx depcruise src --config .dependency-cruiser.cjs --output-type err
mkdir -p test-artifacts
status=0
for project in unit lab vm; do
  npx vitest run --project "$project" --reporter=default --reporter=json --outputFile.json="test-artifacts/vitest-$project.json" "$@" || status=1
done
# One plain closing line, whatever reads this log.
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const p of ["unit", "lab", "vm"]) {
    const file = `test-artifacts/vitest-${p}.json`;
    if (!fs.existsSync(file)) { failed++; continue; }
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + r.numTodoTests;
  }
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' || true
exit "$status"
