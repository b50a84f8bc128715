/**
 * A throwaway PostgreSQL for the reference server's throughput run, when none was given
 * (`TEST_DATABASE_URL` / `DATABASE_URL`) and the machine has the server binaries. PostgreSQL
 * refuses to run as root, so as root it runs as the `postgres` user, in a temporary data
 * directory, on a free loopback port. Best effort: `null` when it cannot start.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempPostgres {
  url: string;
  stop(): void;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 55433;
}

function onPath(binary: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function startTempPostgres(log: (line: string) => void): Promise<TempPostgres | null> {
  if (!onPath('initdb') || !onPath('pg_ctl')) return null;
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'sk-bench-pg-'));
  const port = await freePort();
  const run = (command: string) => {
    if (asRoot) execFileSync('su', ['postgres', '-c', command], { stdio: 'ignore' });
    else execFileSync('sh', ['-c', command], { stdio: 'ignore' });
  };
  try {
    if (asRoot) {
      const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
      chownSync(dir, id('-u'), id('-g'));
    }
    run(`initdb -D ${dir}/data -A trust -U postgres >/dev/null`);
    run(`pg_ctl -D ${dir}/data -o '-p ${port} -k ${dir} -c listen_addresses=127.0.0.1' -l ${dir}/pg.log -w start`);
  } catch (error) {
    log(`could not start a temporary PostgreSQL (${String(error).split('\n')[0]}); PostgreSQL row skipped`);
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      try {
        run(`pg_ctl -D ${dir}/data -m fast stop`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
