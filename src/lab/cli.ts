import type { Command } from 'commander';

export function registerLabCommands(program: Command): void {
  program.command('lab').description('two-director keepalived lab in network namespaces');
}
