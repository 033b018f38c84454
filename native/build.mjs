#!/usr/bin/env node
// Builds native/vrrp-socket.c into native/build/vrrp-socket.node (run by `npm run build`). One
// compiler call: Node-API headers from the node-api-headers package, uv.h from Debian's
// libuv1-dev (scripts/install-deps.sh installs both); Node's symbols resolve when it loads the
// addon, so nothing is downloaded and the build fits every Node the product runs.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const here = import.meta.dirname;
const source = join(here, 'vrrp-socket.c');
const output = join(here, 'build/vrrp-socket.node');
const headers = join(dirname(createRequire(import.meta.url).resolve('node-api-headers/package.json')), 'include');

function fail(message) {
  console.error(`native/build.mjs: ${message}`);
  process.exit(1);
}

if (!existsSync('/usr/include/uv.h')) fail('uv.h is missing: apt-get install libuv1-dev (scripts/install-deps.sh installs it)');
if (existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs && statSync(output).mtimeMs >= statSync(import.meta.filename).mtimeMs) process.exit(0);
mkdirSync(dirname(output), { recursive: true });
const partial = `${output}.tmp`;
try {
  execFileSync(process.env.CC ?? 'cc', ['-std=gnu11', '-O2', '-fPIC', '-shared', '-Wall', '-Wextra', '-Werror', '-fvisibility=hidden', '-I', headers, '-o', partial, source], { stdio: 'inherit' });
} catch (err) {
  fail(err.code === 'ENOENT' ? 'no C compiler: apt-get install gcc libc6-dev (scripts/install-deps.sh installs them)' : `the compiler failed (${err.message})`);
}
renameSync(partial, output);
console.log(`built ${output}`);
