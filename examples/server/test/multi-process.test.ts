/**
 * Two real server processes (`node examples/server/src/main.ts`) on one database: they
 * start together (migrations under a lock, one shared signing key), and a burst of 50
 * refreshes of one token, split across both, rotates it exactly once; a DPoP proof spent at
 * one is refused at the other, and a nonce of one is accepted by the other. PostgreSQL is the
 * supported multi-process setup; SQLite (one file, WAL, BEGIN IMMEDIATE) must hold too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachBackend, dpopProof, dpopSigner, type TestDatabase, type Tokens } from './helpers.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const ISSUER = 'http://session-keeper.test';

type ServerProcess = { child: ChildProcess; url: string; lines: string[] };

/** Starts main.ts on Node 24 (vitest's own node) and waits for its "listening" line. */
async function spawnServer(databaseUrl: string): Promise<ServerProcess> {
  const child = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      PORT: '0',
      DATABASE_URL: databaseUrl,
      ISSUER,
      SEED_USERS: 'alice:secret',
      DPOP_NONCE: 'true',
    },
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

  it("share DPoP state: a proof spent at one is refused at the other; one's nonce is good at the other", async () => {
    const [a, b] = servers as [ServerProcess, ServerProcess];
    const key = await dpopSigner();
    const proofFor = (path: string, nonce?: string) =>
      dpopProof(key, Date.now(), { htm: 'POST', htu: `${ISSUER}${path}` }, nonce === undefined ? {} : { nonce });
    const signIn = async (proof: string) =>
      fetch(`${a.url}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', dpop: proof },
        body: JSON.stringify({ username: 'alice', password: 'secret', client_id: 'multi' }),
      });
    const challenge = await signIn(await proofFor('/auth/login'));
    expect(challenge.status).toBe(400);
    const nonce = challenge.headers.get('dpop-nonce')!;
    const signedIn = await signIn(await proofFor('/auth/login', nonce));
    expect(signedIn.status).toBe(200);
    const first = (await signedIn.json()) as Tokens;
    expect(first.token_type).toBe('DPoP');

    const refreshAt = (server: ServerProcess, refreshToken: string, proof: string) =>
      fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: proof },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'multi' }),
      });
    const proof = await proofFor('/oauth/token', nonce);
    const atA = await refreshAt(a, first.refresh_token, proof);
    expect(atA.status).toBe(200);
    const second = (await atA.json()) as Tokens;
    const replayedAtB = await refreshAt(b, second.refresh_token, proof);
    expect(replayedAtB.status).toBe(400);
    expect(await replayedAtB.json()).toMatchObject({ error: 'invalid_dpop_proof' });
    // The nonce A handed out is good at B, and the token was not spent by the refused proof.
    const atB = await refreshAt(b, second.refresh_token, await proofFor('/oauth/token', nonce));
    expect(atB.status).toBe(200);
    expect(((await atB.json()) as Tokens).token_type).toBe('DPoP');
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
