/**
 * Node.js processes sharing one session file (FileTokenStore with its file lock), as real
 * processes against the reference server: a burst of 401s in three processes at once costs one
 * refresh, and a process killed while it holds the lock does not hold up the others.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager, type StoredSession } from 'session-keeper';
import { FileTokenStore, fileLock } from 'session-keeper/node';
import { ManualClock } from 'session-keeper/testing';
import { backends, CLIENT_ID, startE2EServer, tally, type E2EServer } from './harness.ts';

const script = (name: string) => fileURLToPath(new URL(`./processes/${name}`, import.meta.url));

/** Starts a child on Node 24 (vitest's node) with an IPC channel; resolves with its first message. */
async function start(
  name: string,
  args: string[],
): Promise<{ child: ChildProcess; first: unknown; stderr: () => string }> {
  const child = spawn(process.execPath, [script(name), ...args], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const first = await new Promise<unknown>((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before it was ready: ${stderr}`)));
  });
  return { child, first, stderr: () => stderr };
}

interface Report {
  state: string;
  statuses: (number | string)[];
  refreshes: string[];
  accessToken: string;
}

describe('processes sharing a FileTokenStore', () => {
  let e2e: E2EServer;
  let dir: string;
  beforeAll(async () => {
    e2e = await startE2EServer(backends.sqlite);
    dir = mkdtempSync(join(tmpdir(), 'sk-file-processes-'));
  });
  afterAll(async () => {
    await e2e?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('three processes, 10 requests each, all rejected with 401 at once: one refresh, every request succeeds, all end on the stored token', async () => {
    const path = join(dir, 'session.json');
    const store = new FileTokenStore(path);
    const signIn = new SessionManager({
      tokenEndpoint: e2e.server.tokenEndpoint,
      clientId: CLIENT_ID,
      store,
      lock: store.lock,
    });
    await signIn.setTokens(await e2e.quickLogin());
    signIn.dispose();
    expect(statSync(path).mode & 0o777).toBe(0o600);

    const args = [path, e2e.server.tokenEndpoint, `${e2e.server.url}/api`, CLIENT_ID, '10'];
    const processes = await Promise.all([1, 2, 3].map(() => start('file-store-client.ts', args)));
    expect(processes.map((p) => p.first)).toEqual(['ready', 'ready', 'ready']);
    // The server's clock moves past the access token's life: every first request gets a 401.
    e2e.advance(120_000);
    const mark = e2e.mark();
    const reports = processes.map(
      ({ child }) => new Promise<Report>((resolve) => child.once('message', (message) => resolve(message as Report))),
    );
    for (const { child } of processes) child.send('go');
    const results = await Promise.all(reports);
    await Promise.all(processes.filter(({ child }) => child.exitCode === null).map(({ child }) => once(child, 'exit')));

    expect(tally(e2e.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
    expect(results.map((r) => r.state)).toEqual(['active', 'active', 'active']);
    expect(results.flatMap((r) => r.statuses)).toEqual(Array(30).fill(200));
    expect(results.flatMap((r) => r.refreshes).filter((source) => source === 'refresh')).toHaveLength(1);
    const stored = (await store.load()) as StoredSession;
    expect(new Set(results.map((r) => r.accessToken))).toEqual(new Set([stored.accessToken]));
  });

  it('a process killed while it holds the lock does not hold up the next one', async () => {
    const path = join(dir, 'killed.json');
    const holder = await start('lock-holder.ts', [path, 'app']);
    expect(holder.first).toBe('holding');
    holder.child.kill('SIGKILL');
    await once(holder.child, 'exit');
    // A manual clock that is never advanced: a wait for the dead holder would never end.
    const lock = fileLock(path, { clock: new ManualClock() });
    expect(await lock.run('app', async (context) => context?.waited)).toBe(false);
  });
});
