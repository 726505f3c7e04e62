import { defineConfig } from 'vitest/config';

// Two projects: `unit` runs on any host (the real backends there see whatever kernel the host has,
// usually one without module support); `kernel` runs as root inside a qemu guest (see vm/), one fork,
// files in sequence, because every file changes the same kernel.
export default defineConfig({
  // In the VM guest (vm/) the project tree is a read-only 9p mount, so Vite/Vitest caches go to the
  // guest's tmpfs. (The config itself must then be loaded with `--configLoader runner`: the default
  // loader writes a bundled copy of this file to node_modules/.vite-temp before reading it.)
  ...(process.env.KERNMOD_VM ? { cacheDir: '/tmp/kernmod-vite-cache' } : {}),
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
