/** What the file-backed stores' tests share: a session to save and a fresh folder per test. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import type { StoredSession } from '../../src/types.ts';

/** A stored session as a store saves it: an hour-long access token, started at 2026-01-01. */
export const STORED_SESSION: StoredSession = {
  version: 1,
  refreshToken: 'refresh-1',
  accessToken: 'access-1',
  tokenType: 'Bearer',
  accessTokenExpiresAt: Date.UTC(2026, 0, 1, 1),
  sessionStartedAt: Date.UTC(2026, 0, 1),
  receivedAt: Date.UTC(2026, 0, 1),
};

/**
 * A new folder below the system's temporary one before each test (`tmp.dir`, its name starting
 * with `prefix`), removed with everything in it after the test.
 */
export function useTempDir(prefix: string): { dir: string } {
  const tmp = { dir: '' };
  beforeEach(() => {
    tmp.dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterEach(() => rmSync(tmp.dir, { recursive: true, force: true }));
  return tmp;
}
