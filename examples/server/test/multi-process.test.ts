/**
 * Two real server processes (`node examples/server/src/main.ts`) on one database: they
 * start together (migrations under a lock, one shared signing key), and a burst of 50
 * refreshes of one token, split across both, rotates it exactly once. PostgreSQL is the
 * supported multi-process setup; SQLite (one file, WAL, BEGIN IMMEDIATE) must hold too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend, type TestDatabase, type Tokens } from './helpers.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const ISSUER = 'http://session-keeper.test';

type ServerProcess = { child: ChildProcess; url: string; lines: string[] };

/** Starts main.ts on Node 24 (vitest's own node) and waits for its "listening" line. */
async function spawnServer(databaseUrl: string): Promise<ServerProcess> {
  const child = spawn(process.execPath, [MAIN], {
    env: { ...process.env, PORT: '0', DATABASE_URL: databaseUrl, ISSUER, SEED_USERS: 'alice:secret' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stderr}`)), 20_000);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      const parsed = JSON.parse(line) as { msg?: string; url?: string };
      if (parsed.msg === 'listening' && parsed.url) {
        clearTimeout(timer);
        resolve(parsed.url);
      }
    });
  });
  return { child, url, lines };
}

async function stopServer(server: ServerProcess): Promise<number | null> {
  if (server.child.exitCode !== null) return server.child.exitCode;
  const exited = once(server.child, 'exit');
  server.child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  return code;
}

describeEachBackend('two server processes on one database', (backend) => {
  let database: TestDatabase;
  let servers: ServerProcess[] = [];

  beforeAll(async () => {
    database = await backend.createDatabase();
    servers = await Promise.all([spawnServer(database.url), spawnServer(database.url)]);
  });
  afterAll(async () => {
    await Promise.all(servers.map(stopServer));
    await database?.drop();
  });

  it("accept each other's access tokens and rotate a token exactly once under a split burst of 50", async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const loginResponse = await fetch(`${a.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'secret', client_id: 'multi' }),
    });
    const tokens = (await loginResponse.json()) as Tokens;
    const me = await fetch(`${b.url}/api/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    expect(me.status).toBe(200);
    const { session_id: familyId } = (await me.json()) as { session_id: string };

    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        fetch(`${(i % 2 === 0 ? a : b).url}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'refresh_token',
            refresh_token: tokens.refresh_token,
            client_id: 'multi',
          }),
        }),
      ),
    );
    const bodies = await Promise.all(responses.map((r) => r.text()));
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
    // One child: every answer carries it (each with its own access token and the lifetimes that remain).
    expect(new Set(bodies.map((body) => (JSON.parse(body) as Tokens).refresh_token)).size).toBe(1);

    // Stop both (gracefully: exit code 0), so that every log line has been read.
    expect(await Promise.all(servers.map(stopServer))).toEqual([0, 0]);
    const outcomes = servers
      .flatMap((s) => s.lines)
      .map((line) => JSON.parse(line) as { familyId?: string; outcome?: string })
      .filter((entry) => entry.familyId === familyId)
      .map((entry) => entry.outcome);
    expect(outcomes.filter((o) => o === 'rotated')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'replayed')).toHaveLength(49);
    // Both processes served part of the burst.
    for (const server of servers) {
      expect(
        server.lines.some((line) => line.includes('"outcome":"replayed"') || line.includes('"outcome":"rotated"')),
      ).toBe(true);
    }
    for (const secret of [tokens.refresh_token, tokens.access_token, 'secret"']) {
      expect(
        servers
          .flatMap((s) => s.lines)
          .join('\n')
          .includes(secret),
      ).toBe(false);
    }
  });
});
