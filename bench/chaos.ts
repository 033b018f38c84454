/**
 * A randomized fault run on the lab (root, namespaces), in the spirit of Pacemaker's CTS:
 *
 *   npm run build && npm run chaos -- [--minutes N] [--seed S] [--directors 2|3] [--kinds K,K] [--prefix P] [--artifacts DIR]
 *
 * Draws a seeded schedule of faults (src/lab/faults.ts: VRRP dropped on a node or between two,
 * the secondary link cut, both, keepalived or kawatch killed or stopped and started again, the
 * SMTP server down, kawatch restarted with a changed config) over a lab under policy demote, and
 * checks every invariant of src/lab/invariants.ts against ground truth. Prints its seed first (a
 * failing seed replays the same schedule with --seed), then the faults injected per kind and each
 * violation with its seed, step, what was expected and what was seen. Exit 1 on any violation.
 * The nodes' logs and the mails received are kept in DIR/seed-S/ (default chaos-artifacts/).
 */
import { randomInt } from 'node:crypto';
import { runChaos } from '../src/lab/chaos.js';
import { FAULT_KINDS, type FaultKind } from '../src/lab/faults.js';
import { describeViolation, INVARIANTS } from '../src/lab/invariants.js';
import { checkOptions, countOption, option } from './support.js';

const MINUTES = Number(option('--minutes', '5'));
if (!(MINUTES > 0)) throw new Error(`--minutes: expected a positive number, got "${option('--minutes', '5')}"`);
const SEED = countOption('--seed', randomInt(1, 2 ** 31));
const DIRECTORS = countOption('--directors', 2);
if (DIRECTORS !== 2 && DIRECTORS !== 3) throw new Error(`--directors: expected 2 or 3, got ${DIRECTORS}`);
const PREFIX = option('--prefix', 'kwchaos');
const ARTIFACTS = option('--artifacts', 'chaos-artifacts');
const KINDS = option('--kinds', FAULT_KINDS.join(',')).split(',') as FaultKind[];
const unknownKind = KINDS.find((k) => !FAULT_KINDS.includes(k));
if (unknownKind) throw new Error(`--kinds: unknown fault kind "${unknownKind}" (kinds: ${FAULT_KINDS.join(', ')})`);
checkOptions();

const kindsArg = KINDS.length === FAULT_KINDS.length ? '' : ` --kinds ${KINDS.join(',')}`;
console.log(`chaos seed ${SEED} (replay: npm run chaos -- --seed ${SEED} --minutes ${MINUTES} --directors ${DIRECTORS}${kindsArg})`);
const report = await runChaos({ prefix: PREFIX, seed: SEED, durationMs: MINUTES * 60_000, directors: DIRECTORS, kinds: KINDS, artifacts: ARTIFACTS, log: (line) => console.log(line) });
console.log(`logs kept in ${ARTIFACTS}/seed-${SEED}/`);
console.log(`\nseed ${report.seed}, ${report.directors} directors, ${report.schedule.length} steps`);
console.log('faults injected:');
for (const kind of FAULT_KINDS) console.log(`  ${kind.padEnd(22)} ${report.faultCounts[kind]}`);
console.log('violations by invariant:');
for (const name of INVARIANTS) console.log(`  ${name.padEnd(30)} ${report.violations.filter((v) => v.invariant === name).length}`);
for (const v of report.violations) console.log(`  ${describeViolation(v, report.seed)}`);
process.exitCode = report.violations.length ? 1 : 0;
