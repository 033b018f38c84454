import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.lab.test.ts', 'test/**/*.vm.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        // Real keepalived pairs in network namespaces: one lab at a time.
        test: {
          name: 'lab',
          include: ['test/**/*.lab.test.ts'],
          fileParallelism: false,
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
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
