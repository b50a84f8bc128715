import { statSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * The test set Stryker runs against each mutant (`npm run mutation`, stryker.config.json).
 *
 * Only suites that import `src/` can see a mutant: the end-to-end suites import the built
 * `dist/`, the browser suites drive Chromium, and the reference server's own tests never load
 * the SDK, so all three are left out. What remains runs in a fixed order, fastest first: for a
 * mutant, Stryker stops at the first failing test, and most mutants die in a small unit file
 * long before the model test would have started.
 */

/**
 * Files measured as the slowest (seconds each, the rest well under one), in the order they run,
 * last. The client suites are small files (ky.test.ts, fetch.test.ts run refresh.suite.ts) with
 * 1000-request tests; the interop suite waits on node-oidc-provider in real time.
 */
const SLOWEST_LAST = [
  'test/clients/ky.test.ts',
  'test/clients/fetch.test.ts',
  'test/interop/oidc-provider.test.ts',
  'test/lifecycle.test.ts',
  'test/same-session.test.ts',
  'test/sign-in-and-out.test.ts',
  'test/refresh-client.test.ts',
  'test/model/session.model.test.ts',
];

const rank = (spec: TestSpecification): number => {
  const file = relative(spec.project.config.root, spec.moduleId).replaceAll('\\', '/');
  const slow = SLOWEST_LAST.indexOf(file);
  if (slow !== -1) return Number.MAX_SAFE_INTEGER - SLOWEST_LAST.length + slow;
  // Elsewhere a smaller file is a faster one (the unit files test one module each).
  return statSync(spec.moduleId).size;
};

class FastestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => rank(a) - rank(b) || a.moduleId.localeCompare(b.moduleId));
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: [...configDefaults.exclude, 'test/e2e/**', 'test/browser/**', 'test/integrations/**'],
    environment: 'node',
    // Generous: the 1000-request herd tests take 20 s and more when the machine is loaded.
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // One fast-check seed for the model test: a mutant is then killed, or not, the same way on
    // every run, instead of by whichever interleavings a random seed happens to draw.
    // Fewer model runs than the suite's 800: a mutant the model alone kills dies in the first few.
    env: { MODEL_SEED: '20261201', MODEL_RUNS: '60' },
    sequence: { sequencer: FastestFirstSequencer },
  },
});
