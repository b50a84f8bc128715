/**
 * Refresh-grant throughput of the reference server: 32 concurrent clients, each rotating
 * its own refresh token as fast as it can for a few seconds, against a server process
 * (`src/main.ts`) on SQLite and, when `TEST_DATABASE_URL` or `DATABASE_URL` names a
 * PostgreSQL database, on PostgreSQL (in a fresh schema, dropped afterwards).
 *
 *     npm exec -- node examples/server/bench/refresh-throughput.ts [seconds] [clients]
 *
 * The load generator and the server share the machine: numbers are for comparison
 * between changes on one machine, not absolute capacity.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const SECONDS = Number(process.argv[2] ?? 5);
const CLIENTS = Number(process.argv[3] ?? 32);
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

type Result = { backend: string; grants: number; errors: number; seconds: number; p50: number; p99: number; max: number };

async function withServer<T>(databaseUrl: string, work: (url: string) => Promise<T>): Promise<T> {
  const child = spawn(process.execPath, [MAIN], {
    env: { ...process.env, PORT: '0', DATABASE_URL: databaseUrl, RATE_LIMIT_PER_MINUTE: '0', SEED_USERS: 'alice:secret' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    // Every grant logs one line: keep reading so the pipe never blocks the server.
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === 'listening' && entry.url) resolve(entry.url);
    });
  });
  try {
    return await work(url);
  } finally {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
}

async function login(url: string, clientId: string): Promise<string> {
  const response = await fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'alice', password: 'secret', client_id: clientId }),
  });
  if (!response.ok) throw new Error(`login failed: ${response.status}`);
  return ((await response.json()) as { refresh_token: string }).refresh_token;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function measure(backend: string, url: string): Promise<Result> {
  const tokens = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => login(url, `bench-${i}`)));
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const deadline = start + SECONDS * 1000;
  await Promise.all(
    tokens.map(async (initial, i) => {
      let token = initial;
      while (performance.now() < deadline) {
        const t0 = performance.now();
        const response = await fetch(`${url}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, client_id: `bench-${i}` }),
        });
        const body = (await response.json()) as { refresh_token?: string };
        latencies.push(performance.now() - t0);
        if (response.ok && body.refresh_token) token = body.refresh_token;
        else errors += 1;
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    backend,
    grants: latencies.length - errors,
    errors,
    seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1) ?? NaN,
  };
}

const results: Result[] = [];

const dir = mkdtempSync(join(tmpdir(), 'sk-bench-'));
try {
  results.push(await withServer(`sqlite:${join(dir, 'bench.sqlite')}`, (url) => measure('sqlite', url)));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const postgresUrl = [process.env.TEST_DATABASE_URL, process.env.DATABASE_URL].find((u) => u?.startsWith('postgres'));
if (postgresUrl) {
  const schema = `sk_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  try {
    const url = new URL(postgresUrl);
    url.searchParams.set('options', `-c search_path=${schema}`);
    results.push(await withServer(url.toString(), (server) => measure('postgres', server)));
  } finally {
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  }
}

console.log(`\nrefresh_token grant, ${CLIENTS} concurrent clients, ${SECONDS}s each, ${cpus().length} CPUs, Node ${process.version}\n`);
console.log('| backend  | grants/s | p50 ms | p99 ms | max ms | errors |');
console.log('| -------- | -------: | -----: | -----: | -----: | -----: |');
for (const r of results) {
  console.log(
    `| ${r.backend.padEnd(8)} | ${(r.grants / r.seconds).toFixed(0).padStart(8)} | ${r.p50.toFixed(1).padStart(6)} | ${r.p99
      .toFixed(1)
      .padStart(6)} | ${r.max.toFixed(1).padStart(6)} | ${String(r.errors).padStart(6)} |`,
  );
}
