/**
 * `npm run server`: the reference server as a process, configured from the environment.
 * One JSON line per grant on stdout (never a token or a password).
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startServer, type StartServerOptions } from './index.ts';

function integerFromEnv(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d+$/.test(raw)) {
    console.error(JSON.stringify({ level: 'fatal', msg: `${name} must be a non-negative integer` }));
    process.exit(2);
  }
  return Number(raw);
}

function defaultDatabaseUrl(): string {
  const file = join(import.meta.dirname, '..', 'data', 'session-keeper.sqlite');
  mkdirSync(dirname(file), { recursive: true });
  return `sqlite:${file}`;
}

/**
 * Log lines written together once per turn of the event loop: a write to a pipe is
 * synchronous on Linux, and one per grant would cost a system call each.
 */
let pendingLines: string[] = [];
function writeLine(line: string): void {
  if (pendingLines.length === 0) setImmediate(flushLines);
  pendingLines.push(line);
}
function flushLines(): void {
  if (pendingLines.length === 0) return;
  const text = `${pendingLines.join('\n')}\n`;
  pendingLines = [];
  process.stdout.write(text);
}

const options: StartServerOptions = {
  port: integerFromEnv('PORT') ?? 4000,
  databaseUrl: process.env.DATABASE_URL || defaultDatabaseUrl(),
  seedUsers: process.env.SEED_USERS ?? 'alice:secret,bob:secret2',
  log: (entry) => writeLine(JSON.stringify(entry)),
  // A long-running process keeps no log in memory: stdout has it.
  grantLogLimit: 0,
};
const env: Array<[keyof StartServerOptions, string]> = [
  ['accessTokenTtlSeconds', 'ACCESS_TOKEN_TTL_SECONDS'],
  ['refreshTokenTtlSeconds', 'REFRESH_TOKEN_TTL_SECONDS'],
  ['sessionMaxSeconds', 'SESSION_MAX_SECONDS'],
  ['refreshGraceSeconds', 'REFRESH_GRACE_SECONDS'],
  ['rateLimitPerMinute', 'RATE_LIMIT_PER_MINUTE'],
  ['loginRateLimitPerMinute', 'LOGIN_RATE_LIMIT_PER_MINUTE'],
  ['passwordCheckConcurrency', 'PASSWORD_CHECK_CONCURRENCY'],
  ['passwordCheckQueue', 'PASSWORD_CHECK_QUEUE'],
  ['dpopProofWindowSeconds', 'DPOP_PROOF_WINDOW_SECONDS'],
  ['dpopNonceRotationSeconds', 'DPOP_NONCE_ROTATION_SECONDS'],
];
for (const [option, name] of env) {
  const value = integerFromEnv(name);
  if (value !== undefined) (options as Record<string, unknown>)[option] = value;
}
if (process.env.HOST) options.host = process.env.HOST;
if (process.env.ISSUER) options.issuer = process.env.ISSUER;
if (process.env.JWT_PRIVATE_JWK) options.jwtPrivateJwk = process.env.JWT_PRIVATE_JWK;
const dpopNonce = process.env.DPOP_NONCE;
if (dpopNonce) {
  if (!['1', 'true', '0', 'false'].includes(dpopNonce)) {
    console.error(JSON.stringify({ level: 'fatal', msg: 'DPOP_NONCE must be true, false, 1 or 0' }));
    process.exit(2);
  }
  options.dpopNonce = dpopNonce === '1' || dpopNonce === 'true';
}
if (process.env.DPOP_NONCE_SECRET) options.dpopNonceSecret = process.env.DPOP_NONCE_SECRET;
if (process.env.DPOP_SIGNING_ALGS) {
  options.dpopSigningAlgorithms = process.env.DPOP_SIGNING_ALGS.split(',').map((alg) => alg.trim());
}
const synchronous = process.env.SQLITE_SYNCHRONOUS;
if (synchronous) {
  if (synchronous !== 'full' && synchronous !== 'normal') {
    console.error(JSON.stringify({ level: 'fatal', msg: 'SQLITE_SYNCHRONOUS must be full or normal' }));
    process.exit(2);
  }
  options.sqliteSynchronous = synchronous;
}

try {
  const server = await startServer(options);
  const database = options.databaseUrl!.startsWith('sqlite:') ? options.databaseUrl : 'postgres (credentials hidden)';
  writeLine(
    JSON.stringify({
      time: new Date().toISOString(),
      msg: 'listening',
      url: server.url,
      issuer: server.issuer,
      database,
    }),
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    writeLine(JSON.stringify({ time: new Date().toISOString(), msg: 'shutting down', signal }));
    server.close().then(
      () => {
        flushLines();
        // Exit once stdout has taken every line (a pipe may still be draining).
        process.stdout.write('', () => process.exit(0));
      },
      (error: unknown) => {
        console.error(JSON.stringify({ level: 'error', msg: 'shutdown failed', error: String(error) }));
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
} catch (error) {
  console.error(JSON.stringify({ level: 'fatal', msg: 'could not start', error: String(error) }));
  process.exit(1);
}
