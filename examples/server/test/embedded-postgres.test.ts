/**
 * The throwaway PostgreSQL of the test runs (embedded-postgres.ts) leaves the process its exit
 * code: a run whose tests failed must fail, in CI above all.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const MODULE = new URL('./embedded-postgres.ts', import.meta.url).href;

/** Runs `code` in a new Node.js process after importing the module; its status and stderr. */
function runAfterImport(code: string) {
  const result = spawnSync(
    process.execPath,
    ['--input-type=module', '-e', `await import(${JSON.stringify(MODULE)});\n${code}`],
    {
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  return { status: result.status, stderr: result.stderr };
}

describe('embedded PostgreSQL for the test runs', () => {
  it('keeps a failed run failed: process.exitCode 1 still exits 1 once the module is loaded', () => {
    expect(runAfterImport('process.exitCode = 1;')).toEqual({ status: 1, stderr: '' });
  });

  it('keeps a passing run passing', () => {
    expect(runAfterImport('')).toEqual({ status: 0, stderr: '' });
  });
});
