/**
 * Refresh-grant throughput of the reference server, side by side with node-oidc-provider 9
 * (in-memory adapter) in the same run, and refresh latency under a login flood.
 *
 *     npm exec -- node examples/server/bench/refresh-throughput.ts [--seconds 8] [--clients 32] [--reps 3] [--no-flood] [--write-readme]
 *
 * Throughput: `clients` concurrent clients (keep-alive), each rotating its own refresh token
 * chain as fast as it can, against each server in turn (a fresh server and database for
 * every repetition, order rotated between repetitions); one second of warm-up is not
 * counted. PostgreSQL runs when TEST_DATABASE_URL or DATABASE_URL names one (a fresh
 * schema, dropped afterwards), with two server processes sharing it. Cells are medians over
 * the repetitions. Isolation: one client refreshing sequentially, quiet and then under 4 and
 * 8 loops of failing sign-ins (each loop at most 10 a second).
 *
 * The load generator and the servers share the machine: compare rows of one run, not
 * numbers across machines. `BENCH_CPU_PROFILE=<dir>` starts the servers with --cpu-prof.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Agent, request as httpRequest } from 'node:http';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

// `[seconds] [clients]` as positionals too (how the root `npm run bench` calls it, with a
// time budget: one repetition, no flood, unless told otherwise).
const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string' },
    clients: { type: 'string' },
    reps: { type: 'string' },
    flood: { type: 'boolean' },
    only: { type: 'string' },
    'no-flood': { type: 'boolean', default: false },
    'write-readme': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds ?? positionals[0] ?? 8);
const CLIENTS = Number(args.clients ?? positionals[1] ?? 32);
const REPS = Number(args.reps ?? (positionals.length > 0 ? 1 : 3));
const FLOOD = args.flood ?? (!args['no-flood'] && positionals.length === 0);
const WARMUP_MS = 1000;
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const OIDC = fileURLToPath(new URL('./oidc-provider-server.ts', import.meta.url));
const README = fileURLToPath(new URL('../README.md', import.meta.url));
const PROFILE_DIR = process.env.BENCH_CPU_PROFILE;
const POSTGRES_URL = [process.env.TEST_DATABASE_URL, process.env.DATABASE_URL].find((u) => u?.startsWith('postgres'));

/** A running server under test: where to send refresh grants, and one token per client. */
type Running = {
  urls: string[];
  tokenPath: string;
  clientIds: string[];
  tokens: string[];
  /** Process ids whose CPU time the grants cost: the server processes, and PostgreSQL's. */
  pids(): Promise<{ server: number[]; database: number[] }>;
  stop(): Promise<void>;
};
type Target = { name: string; start(): Promise<Running> };
type Sample = {
  grantsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU time of the server processes per grant, microseconds. */
  serverCpuUs: number;
  /** CPU time of PostgreSQL's processes per grant, microseconds (0 for the others). */
  databaseCpuUs: number;
  /** CPU time of the load generator per grant, microseconds. */
  clientCpuUs: number;
};

const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime of a process (all its threads), in microseconds; 0 once it is gone. */
function cpuOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** The postmaster and every process it started (backends, WAL writer, checkpointer...). */
function postgresProcesses(backendPid: number): number[] {
  const parentOf = (pid: number) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  };
  const postmaster = parentOf(backendPid);
  const children = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        return parentOf(pid) === postmaster;
      } catch {
        return false;
      }
    });
  return [postmaster, ...children];
}

function nodeArgs(): string[] {
  return PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [];
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/** A free loopback port (bound, read, released). */
async function freePort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * Starts `src/main.ts` on a free port and resolves once it answers. Its stdout (one log
 * line per grant) goes to /dev/null: read through a pipe, the load generator would pay for
 * this server's logging and not for the other's.
 */
async function spawnOurs(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeArgs(), MAIN], {
    env: { ...process.env, PORT: String(port), RATE_LIMIT_PER_MINUTE: '0', SEED_USERS: 'alice:secret', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`))),
  );
  exited.catch(() => {});
  for (let attempt = 0; ; attempt += 1) {
    try {
      const response = await Promise.race([fetch(`${url}/.well-known/jwks.json`), exited]);
      if (response.ok) return { child, url };
    } catch (error) {
      if (child.exitCode !== null || attempt > 300) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function loginOurs(url: string, clientId: string, username = 'alice', password = 'secret'): Promise<Response> {
  return fetch(`${url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password, client_id: clientId }),
  });
}

/** Our server on `databaseUrl`, `processes` of it sharing the database. */
async function startOurs(databaseUrl: string, processes: number, env: Record<string, string> = {}): Promise<Running> {
  const servers: Array<{ child: ChildProcess; url: string }> = [];
  for (let i = 0; i < processes; i += 1)
    servers.push(await spawnOurs({ DATABASE_URL: databaseUrl, ISSUER: 'http://bench.test', ...env }));
  const clientIds = Array.from({ length: CLIENTS }, (_, i) => `bench-${i}`);
  const tokens: string[] = [];
  // One at a time: sign-ins are bounded on purpose (the password hash is slow).
  for (const clientId of clientIds) {
    const response = await loginOurs(servers[0]!.url, clientId);
    if (!response.ok) throw new Error(`login failed: ${response.status}`);
    tokens.push(((await response.json()) as { refresh_token: string }).refresh_token);
  }
  return {
    urls: servers.map((s) => s.url),
    tokenPath: '/oauth/token',
    clientIds,
    tokens,
    pids: async () => ({ server: servers.map((s) => s.child.pid!), database: [] }),
    stop: async () => void (await Promise.all(servers.map((s) => stopChild(s.child)))),
  };
}

async function withSqlite(run: (url: string) => Promise<Running>): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'sk-bench-'));
  const running = await run(`sqlite:${join(dir, 'bench.sqlite')}`);
  return { ...running, stop: async () => (await running.stop(), rmSync(dir, { recursive: true, force: true })) };
}

async function withPostgresSchema(run: (url: string) => Promise<Running>): Promise<Running> {
  const schema = `sk_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const url = new URL(POSTGRES_URL!);
  url.searchParams.set('options', `-c search_path=${schema}`);
  try {
    const running = await run(url.toString());
    const { rows } = await admin.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const backend = rows[0]!.pid;
    return {
      ...running,
      // Scanned each time: the servers' pools open backends as the load grows.
      pids: async () => ({ server: (await running.pids()).server, database: postgresProcesses(backend) }),
      stop: async () => {
        await running.stop();
        await admin.query(`DROP SCHEMA ${schema} CASCADE`);
        await admin.end();
      },
    };
  } catch (error) {
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
    throw error;
  }
}

async function startOidcProvider(): Promise<Running> {
  const child = fork(OIDC, [], {
    execArgv: nodeArgs(),
    env: { ...process.env, BENCH_CLIENTS: String(CLIENTS) },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  // Its start-up warnings about the development adapter are expected; anything else is shown.
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (!/oidc-provider (WARNING|NOTICE)/.test(line)) console.error(line);
  });
  const ready = await new Promise<{ url: string; clientId: string; tokens: string[] }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`oidc-provider exited with ${code}`)));
    child.once('message', (message) => resolve(message as { url: string; clientId: string; tokens: string[] }));
  });
  return {
    urls: [ready.url],
    tokenPath: '/token',
    clientIds: ready.tokens.map(() => ready.clientId),
    tokens: ready.tokens,
    pids: async () => ({ server: [child.pid!], database: [] }),
    stop: () => stopChild(child),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * One keep-alive connection per client, through node:http: a much lighter client than
 * fetch, so that the load generator takes less of the machine it shares with the servers.
 */
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

function refreshOnce(url: string, path: string, token: string, clientId: string): Promise<string | undefined> {
  const body = new URLSearchParams({
    grant_type: 'refresh_token',
    refresh_token: token,
    client_id: clientId,
  }).toString();
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        agent,
        hostname,
        port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          if (response.statusCode !== 200) return resolve(undefined);
          resolve((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { refresh_token?: string }).refresh_token);
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** Every client rotates its own chain until the deadline; the first second is warm-up. */
async function measure(running: Running): Promise<Sample> {
  const latencies: number[] = [];
  let errors = 0;
  const start = performance.now();
  const measureFrom = start + WARMUP_MS;
  const deadline = measureFrom + SECONDS * 1000;
  const cpuNow = async () => {
    const pids = await running.pids();
    return {
      server: pids.server.reduce((sum, pid) => sum + cpuOf(pid), 0),
      database: pids.database.reduce((sum, pid) => sum + cpuOf(pid), 0),
      client: cpuOf(process.pid),
    };
  };
  let cpuAtStart = { server: 0, database: 0, client: 0 };
  const warmedUp = new Promise<void>((resolve) =>
    setTimeout(async () => {
      cpuAtStart = await cpuNow();
      resolve();
    }, WARMUP_MS),
  );
  await Promise.all(
    running.tokens.map(async (initial, i) => {
      let token: string | undefined = initial;
      const url = running.urls[i % running.urls.length]!;
      while (token !== undefined && performance.now() < deadline) {
        const t0 = performance.now();
        const next = await refreshOnce(url, running.tokenPath, token, running.clientIds[i]!);
        if (t0 >= measureFrom) {
          latencies.push(performance.now() - t0);
          if (next === undefined) errors += 1;
        }
        token = next;
      }
    }),
  );
  await warmedUp;
  const cpuAtEnd = await cpuNow();
  latencies.sort((a, b) => a - b);
  return {
    grantsPerSecond: (latencies.length - errors) / SECONDS,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors,
    serverCpuUs: (cpuAtEnd.server - cpuAtStart.server) / Math.max(1, latencies.length),
    databaseCpuUs: (cpuAtEnd.database - cpuAtStart.database) / Math.max(1, latencies.length),
    clientCpuUs: (cpuAtEnd.client - cpuAtStart.client) / Math.max(1, latencies.length),
  };
}

const targets: Target[] = [
  {
    name: 'this server, SQLite file, synchronous=FULL',
    start: () => withSqlite((url) => startOurs(url, 1, { SQLITE_SYNCHRONOUS: 'full' })),
  },
  {
    name: 'this server, SQLite file, synchronous=NORMAL',
    start: () => withSqlite((url) => startOurs(url, 1, { SQLITE_SYNCHRONOUS: 'normal' })),
  },
  ...(POSTGRES_URL
    ? [{ name: 'this server, PostgreSQL, 2 processes', start: () => withPostgresSchema((url) => startOurs(url, 2)) }]
    : []),
  { name: 'node-oidc-provider 9, in-memory adapter', start: startOidcProvider },
].filter((t) => args.only === undefined || t.name.includes(args.only));

const loadAtStart = loadavg();
const startedAt = new Date();
const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
for (let rep = 0; rep < REPS; rep += 1) {
  // Rotate the order so that no server always runs first (or last) on a noisy machine.
  const order = targets.map((_, i) => targets[(i + rep) % targets.length]!);
  for (const target of order) {
    const running = await target.start();
    try {
      const sample = await measure(running);
      samples.get(target.name)!.push(sample);
      console.error(
        `rep ${rep + 1}/${REPS} ${target.name}: ${sample.grantsPerSecond.toFixed(0)}/s p50 ${sample.p50.toFixed(1)} p99 ${sample.p99.toFixed(1)} ` +
          `errors ${sample.errors} server CPU ${sample.serverCpuUs.toFixed(0)} + database ${sample.databaseCpuUs.toFixed(0)} us/grant, client ${sample.clientCpuUs.toFixed(0)} us/grant, load ${loadavg()[0]!.toFixed(1)}`,
      );
    } finally {
      await running.stop();
    }
  }
}

/** Isolation: sequential refreshes of one client, quiet, then while loops of failing sign-ins run. */
async function flood(): Promise<string[]> {
  const running = await withSqlite((url) => startOurs(url, 1));
  const url = running.urls[0]!;
  const rows: string[] = [];
  let token: string | undefined = running.tokens[0]!;
  let quiet = Number.NaN;
  try {
    for (const loops of [0, 4, 8]) {
      let stopFlood = false;
      const logins = { 401: 0, 503: 0, other: 0 };
      const floodLoops = Array.from({ length: loops }, async (_, i) => {
        while (!stopFlood) {
          const t0 = performance.now();
          const response = await loginOurs(url, `flood-${i}`, `nobody-${i}`, 'wrong');
          await response.arrayBuffer();
          if (response.status === 401) logins[401] += 1;
          else if (response.status === 503) logins[503] += 1;
          else logins.other += 1;
          const wait = 100 - (performance.now() - t0);
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        }
      });
      await new Promise((resolve) => setTimeout(resolve, loops > 0 ? 500 : 0));
      const latencies: number[] = [];
      const deadline = performance.now() + 4000;
      while (token !== undefined && performance.now() < deadline && latencies.length < 20_000) {
        const t0 = performance.now();
        token = await refreshOnce(url, '/oauth/token', token, running.clientIds[0]!);
        latencies.push(performance.now() - t0);
      }
      stopFlood = true;
      await Promise.all(floodLoops);
      latencies.sort((a, b) => a - b);
      const p50 = percentile(latencies, 50);
      if (loops === 0) quiet = p50;
      rows.push(
        `| ${loops === 0 ? 'quiet' : `${loops} loops of failing sign-ins`} | ${latencies.length} | ${p50.toFixed(2)} | ${percentile(latencies, 99).toFixed(2)} | ${(p50 / quiet).toFixed(2)}x | ${loops === 0 ? '-' : `${logins[401]} / ${logins[503]} / ${logins.other}`} | ${token === undefined ? 'a refresh failed' : 'all 200'} |`,
      );
    }
  } finally {
    await running.stop();
  }
  return rows;
}
const floodRows = FLOOD ? await flood() : [];
const loadAtEnd = loadavg();

function versionOf(name: string): string {
  return (
    JSON.parse(
      readFileSync(fileURLToPath(new URL(`../../../node_modules/${name}/package.json`, import.meta.url)), 'utf8'),
    ) as { version: string }
  ).version;
}
async function postgresVersion(): Promise<string | undefined> {
  if (!POSTGRES_URL) return undefined;
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
  await client.end();
  return rows[0]?.server_version;
}

const cpu = cpus();
const lines = [
  `Measured ${startedAt.toISOString()} by \`examples/server/bench/refresh-throughput.ts --seconds ${SECONDS} --clients ${CLIENTS} --reps ${REPS}\`:`,
  `${cpu.length} × ${cpu[0]?.model.trim() ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, node:sqlite (SQLite ${process.versions.sqlite}), ` +
    `${POSTGRES_URL ? `PostgreSQL ${await postgresVersion()} (pg ${versionOf('pg')}), ` : ''}oidc-provider ${versionOf('oidc-provider')}; ` +
    `load average ${loadAtStart.map((l) => l.toFixed(1)).join(' / ')} at start, ${loadAtEnd.map((l) => l.toFixed(1)).join(' / ')} at end ` +
    '(the machine is shared; the load generator runs on it too).',
  '',
  `${CLIENTS} clients, each rotating its own refresh token chain; medians of ${REPS} repetitions of ${SECONDS} s:`,
  '',
  '| server | grants/s | p50 ms | p99 ms | errors | CPU per grant: server + database | grants per CPU-second | grants/s per repetition |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ...targets.map((t) => {
    const s = samples.get(t.name)!;
    const server = median(s.map((x) => x.serverCpuUs));
    const database = median(s.map((x) => x.databaseCpuUs));
    return `| ${t.name} | ${median(s.map((x) => x.grantsPerSecond)).toFixed(0)} | ${median(s.map((x) => x.p50)).toFixed(1)} | ${median(s.map((x) => x.p99)).toFixed(1)} | ${s.reduce((n, x) => n + x.errors, 0)} | ${server.toFixed(0)} + ${database.toFixed(0)} µs | ${(1e6 / (server + database)).toFixed(0)} | ${s.map((x) => x.grantsPerSecond.toFixed(0)).join(', ')} |`;
  }),
  '',
  `"CPU per grant" is the CPU time (user + system, all threads) of the server processes and, for PostgreSQL, of every PostgreSQL process, over the measured seconds divided by the grants: it depends far less on how busy the rest of the machine is than grants/s does. "grants per CPU-second" is its inverse: what one core given entirely to the server side would sustain. The load generator took ${median(targets.flatMap((t) => samples.get(t.name)!.map((x) => x.clientCpuUs))).toFixed(0)} µs of CPU per grant (median).`,
];
if (floodRows.length > 0) {
  lines.push(
    '',
    'One client refreshing sequentially (SQLite with the default settings, rate limits off: as if the flood came from many addresses), 4 s each; each loop sends a sign-in with a wrong password for an unknown user, waits for the answer, and at most 10 a second:',
    '',
    '| while | refreshes | p50 ms | p99 ms | p50 vs quiet | sign-ins 401 / 503 / other | refreshes |',
    '| --- | ---: | ---: | ---: | ---: | --- | --- |',
    ...floodRows,
  );
}
const table = lines.join('\n');
console.log(`\n${table}\n`);

if (args['write-readme']) {
  const readme = readFileSync(README, 'utf8');
  const begin = '<!-- refresh-throughput:begin -->';
  const end = '<!-- refresh-throughput:end -->';
  const from = readme.indexOf(begin);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README has no ${begin} ... ${end} section`);
  writeFileSync(README, `${readme.slice(0, from + begin.length)}\n${table}\n${readme.slice(to)}`);
  console.error('README updated');
}
