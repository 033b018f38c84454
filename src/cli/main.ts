#!/usr/bin/env node
// keepalived forks `kawatch notify` on every transition: that path loads nothing it does not need.
const argv = process.argv.slice(2);
if (argv[0] === 'notify') {
  const { runNotify } = await import('./notify.js');
  process.exitCode = runNotify(argv.slice(1));
} else {
  const { runCli } = await import('./commands.js');
  await runCli(process.argv);
}
