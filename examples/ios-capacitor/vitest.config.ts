import { defineConfig } from 'vitest/config';

/**
 * The example's own test run (`npm test` here). The repository's `npm run test:browser` runs
 * the same files through the root's browser config. These are Node-side tests that drive
 * Chromium with playwright-core.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 90_000,
    fileParallelism: false,
  },
});
