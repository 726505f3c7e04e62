import { defineConfig } from 'vitest/config';

// Two projects: `unit` runs on any host (the real backends there see whatever kernel the host has,
// usually one without module support); `kernel` runs as root inside a qemu guest (see vm/), one fork,
// files in sequence, because every file changes the same kernel.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'kernel',
          include: ['test/kernel/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          maxWorkers: 1,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
