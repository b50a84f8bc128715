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

const options: StartServerOptions = {
  port: integerFromEnv('PORT') ?? 4000,
  databaseUrl: process.env.DATABASE_URL || defaultDatabaseUrl(),
  seedUsers: process.env.SEED_USERS ?? 'alice:secret,bob:secret2',
  log: (entry) => console.log(JSON.stringify(entry)),
  // A long-running process keeps no log in memory: stdout has it.
  grantLogLimit: 0,
};
const env: Array<[keyof StartServerOptions, string]> = [
  ['accessTokenTtlSeconds', 'ACCESS_TOKEN_TTL_SECONDS'],
  ['refreshTokenTtlSeconds', 'REFRESH_TOKEN_TTL_SECONDS'],
  ['sessionMaxSeconds', 'SESSION_MAX_SECONDS'],
  ['refreshGraceSeconds', 'REFRESH_GRACE_SECONDS'],
  ['rateLimitPerMinute', 'RATE_LIMIT_PER_MINUTE'],
];
for (const [option, name] of env) {
  const value = integerFromEnv(name);
  if (value !== undefined) (options as Record<string, unknown>)[option] = value;
}
if (process.env.HOST) options.host = process.env.HOST;
if (process.env.ISSUER) options.issuer = process.env.ISSUER;
if (process.env.JWT_PRIVATE_JWK) options.jwtPrivateJwk = process.env.JWT_PRIVATE_JWK;

try {
  const server = await startServer(options);
  const database = options.databaseUrl!.startsWith('sqlite:') ? options.databaseUrl : 'postgres (credentials hidden)';
  console.log(
    JSON.stringify({ time: new Date().toISOString(), msg: 'listening', url: server.url, issuer: server.issuer, database }),
  );
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(JSON.stringify({ time: new Date().toISOString(), msg: 'shutting down', signal }));
    server.close().then(
      () => process.exit(0),
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
