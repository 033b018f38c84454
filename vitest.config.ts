import { defineConfig } from 'vitest/config';

/** fast-check's seed, fixed unless KAWATCH_FC_SEED says otherwise. */
const SEED = './test/support/seed.ts';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.lab.test.ts', 'test/**/*.vm.test.ts'],
          testTimeout: 20_000,
          setupFiles: [SEED],
        },
      },
      {
        // Real keepalived pairs in network namespaces: one lab at a time.
        test: {
          name: 'lab',
          include: ['test/**/*.lab.test.ts'],
          fileParallelism: false,
          setupFiles: [SEED],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        // A real IPVS kernel under qemu (TCG): one VM at a time.
        test: {
          name: 'vm',
          include: ['test/**/*.vm.test.ts'],
          fileParallelism: false,
          setupFiles: [SEED],
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
