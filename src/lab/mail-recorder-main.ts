#!/usr/bin/env node
// The lab's mail recorder as its own process: `node mail-recorder-main.js --dir DIR --listen HOST... [--port N] --ready FILE`.
// --port: a recorder started again after an outage listens where the daemons' configurations send mail.
// Once every address listens it writes FILE ({"pid","port","hosts"}), which is what `kawatch lab up` waits for.
import { rename, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { startMailRecorder } from './mail-recorder.js';

const log = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    listen: { type: 'string', multiple: true },
    port: { type: 'string' },
    ready: { type: 'string' },
  },
});
if (!values.dir || !values.listen?.length || !values.ready) {
  process.stderr.write('usage: mail-recorder-main.js --dir DIR --listen HOST [--listen HOST...] [--port N] --ready FILE\n');
  process.exit(2);
}

const port = values.port === undefined ? undefined : Number(values.port);
if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
  process.stderr.write(`--port ${JSON.stringify(values.port)}: expected a TCP port, 1 to 65535\n`);
  process.exit(2);
}
const recorder = await startMailRecorder({ dir: values.dir, hosts: values.listen, port, log });
const ready = { pid: process.pid, port: recorder.port, hosts: recorder.hosts };
await writeFile(`${values.ready}.tmp`, `${JSON.stringify(ready)}\n`);
await rename(`${values.ready}.tmp`, values.ready);
log(`listening on ${recorder.hosts.map((h) => `${h}:${recorder.port}`).join(', ')}, writing to ${values.dir}`);

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log(`${signal}: closing`);
    void recorder.close().then(() => process.exit(0));
  });
}
