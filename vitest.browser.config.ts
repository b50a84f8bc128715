import { defineConfig } from 'vitest/config';

/**
 * `npm run test:browser`: tests that run in real Chromium. They run in Node and drive the
 * browser with playwright-core (Debian's /usr/bin/chromium; CHROMIUM_PATH overrides it).
 */
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts', 'examples/ios-capacitor/test/**/*.test.ts'],
    environment: 'node',
    env: { SESSION_KEEPER_BROWSER_TESTS: '1' },
    // One Chromium at a time: the suites measure waits in real time on small CI machines.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
