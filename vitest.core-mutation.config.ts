import { defineConfig } from 'vitest/config';

/** The pure core's own tests only: what the scoped mutation run executes. */
export default defineConfig({
  test: {
    include: [
      'test/state.test.ts',
      'test/decisions.test.ts',
      'test/scope-retry.test.ts',
      'test/session-storage.test.ts',
    ],
    environment: 'node',
  },
});
