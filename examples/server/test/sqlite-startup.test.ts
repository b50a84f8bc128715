/**
 * Several server processes starting at once on a new SQLite file: the one that switches the
 * file to WAL while another is in its migrations' write transaction waits for it, instead of
 * failing with "database is locked" (SQLite refuses that switch at once, without its busy
 * timeout).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { SqliteRepository } from '../src/storage/sqlite.ts';

/** Another process: a write transaction on `file`, committed `holdMs` after it says "held". */
const HOLDER = `
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(process.argv[1]);
db.exec('BEGIN IMMEDIATE');
db.exec('CREATE TABLE IF NOT EXISTS other_process (x)');
process.stdout.write('held\\n');
setTimeout(() => { db.exec('COMMIT'); db.close(); }, Number(process.argv[2]));
`;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sk-sqlite-start-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function holdWriteLock(file: string, holdMs: number) {
  const child = spawn(process.execPath, ['-e', HOLDER, file, String(holdMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout!, 'data');
  return child;
}

it('opens a new file while another process is in a write transaction on it, once that ends', async () => {
  const file = join(dir, 'server.sqlite');
  const holder = await holdWriteLock(file, 300);
  const exited = once(holder, 'exit');
  const repository = new SqliteRepository(file);
  await repository.migrate();
  await exited;
  expect(holder.exitCode).toBe(0);
  await repository.upsertUser({ id: 'u1', username: 'alice', passwordHash: 'x' });
  expect(await repository.findUserByUsername('alice')).toMatchObject({ id: 'u1' });
  await repository.close();
});
