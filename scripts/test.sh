#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine (root, Node 20): installs what it needs, builds,
# then runs the unit tests and, one after the other, the lab tests (real keepalived in network
# namespaces) and the VM tests (a real IPVS kernel under qemu), so that none slows another's timing
# on a small machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --tests
# Every keepalived release the field runs, built once per checksum into a cache outside the checkout.
bash scripts/keepalived-matrix.sh build
npx tsc -p tsconfig.json --noEmit
# The direction of every folder and no import cycles (.dependency-cruiser.cjs, docs/architecture.md).
npx depcruise src --config .dependency-cruiser.cjs --output-type err
mkdir -p test-artifacts
status=0
for project in unit lab vm; do
  npx vitest run --project "$project" --reporter=default --reporter=json --outputFile.json="test-artifacts/vitest-$project.json" "$@" || status=1
done
# One plain closing line, whatever reads this log. Under CI a skipped or todo test is a failure:
# there every prerequisite is installed, so a skip hides a test that proves nothing.
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0;
  const skipped = [];
  for (const p of ["unit", "lab", "vm"]) {
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
