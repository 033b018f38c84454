#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine (root, Node 20): installs what it needs, builds,
# then runs the unit tests, the unit tests again on the Node.js runtime the packages ship (Node 24
# LTS, from npm run package), and, one after the other, the lab tests (real keepalived in network
# namespaces, the packages installed into a fresh Debian root) and the VM tests (a real IPVS kernel
# under qemu), so that none slows another's timing on a small machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --tests
# Every keepalived release the field runs, built once per checksum into a cache outside the checkout.
bash scripts/keepalived-matrix.sh build
npx tsc -p tsconfig.json --noEmit
# The direction of every folder and no import cycles (.dependency-cruiser.cjs, docs/architecture.md).
npx depcruise src --config .dependency-cruiser.cjs --output-type err
# The .deb, .rpm, tarball and the bundle's runtime (dist-pkg/), for the packaged runtime's unit run
# and the package tests.
node packaging/package.mjs
mkdir -p test-artifacts/node-packaged
ln -sf "$PWD/dist-pkg/root/usr/lib/kawatch/node" test-artifacts/node-packaged/node
status=0
run_vitest() { # REPORT PROJECT ARGS...
  local report=$1 project=$2
  shift 2
  npx vitest run --project "$project" --reporter=default --reporter=json --outputFile.json="test-artifacts/vitest-$report.json" "$@" || status=1
}
run_vitest unit unit "$@"
# The same unit tests with the packaged runtime first on PATH: vitest, its workers and every
# `node` a test spawns run on the Node.js the product ships with.
echo "unit tests on the packaged runtime: Node $(test-artifacts/node-packaged/node --version)"
PATH="$PWD/test-artifacts/node-packaged:$PATH" run_vitest unit-packaged-node unit "$@"
run_vitest lab lab "$@"
run_vitest vm vm "$@"
# One plain closing line, whatever reads this log. Under CI a skipped or todo test is a failure:
# there every prerequisite is installed, so a skip hides a test that proves nothing.
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0;
  const skipped = [];
  for (const p of ["unit", "unit-packaged-node", "lab", "vm"]) {
    const file = `test-artifacts/vitest-${p}.json`;
    if (!fs.existsSync(file)) { console.error(`no report from the ${p} tests (${file})`); failed++; continue; }
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests;
    for (const f of r.testResults)
      for (const t of f.assertionResults)
        if (!["passed", "failed"].includes(t.status)) skipped.push(`${p}: ${f.name.replace(process.cwd() + "/", "")} > ${t.fullName} (${t.status})`);
  }
  const underCi = process.env.CI === "true" && skipped.length > 0;
  if (underCi) {
    console.error(`error: ${skipped.length} test(s) skipped or todo under CI=true:`);
    for (const s of skipped) console.error(`  ${s}`);
  }
  console.log(`${passed} passed, ${failed} failed` + (skipped.length ? `, ${skipped.length} skipped` : ""));
  process.exit(underCi ? 1 : 0);
' || status=1
exit "$status"
