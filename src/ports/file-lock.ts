import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { sleep, systemClock, type Clock } from './clock.ts';
import type { LockContext, LockPort } from './lock.ts';
import type { Logger } from './logger.ts';

/** Options of {@link fileLock}. */
export interface FileLockOptions {
  /**
   * How long `run` waits for a live holder before it runs the task without the lock, as
   * `webLock` does: a process that hangs while holding the lock must not stall every
   * other one. Default 10 000 ms.
   */
  maxWaitMs?: number;
  /** How often a waiting process looks at the lock file again. Default 25 ms. */
  pollMs?: number;
  /** Time for the waits (a manual clock in tests). Default {@link systemClock}. */
  clock?: Clock;
  /** Told when a wait timed out or a dead holder's lock was taken over. */
  logger?: Logger;
}

interface Holder {
  pid: number;
  host: string;
  token: string;
}

// Tokens of the locks this process holds now: a lock file naming this pid with another token
// was left by an earlier process that had the same pid (common in containers).
const heldHere = new Set<string>();

const code = (error: unknown) => (error as NodeJS.ErrnoException | null)?.code;

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

function parseHolder(text: string): Holder | null {
  try {
    const value = JSON.parse(text) as Partial<Holder>;
    return typeof value.pid === 'number' && typeof value.host === 'string' && typeof value.token === 'string'
      ? { pid: value.pid, host: value.host, token: value.token }
      : null;
  } catch {
    return null;
  }
}

/** Whether the process that wrote `holder` is gone (only knowable on this host). */
function holderIsGone(holder: Holder): boolean {
  if (holder.host !== hostname()) return false;
  if (holder.pid === process.pid) return !heldHere.has(holder.token);
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return code(error) === 'ESRCH';
  }
}

async function readText(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if (code(error) === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Removes `file` only if it still holds `expected`: it is moved aside first (atomic), and put
 * back if another process had replaced it in the meantime.
 */
async function removeIfUnchanged(file: string, expected: string): Promise<void> {
  const aside = `${file}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(file, aside);
  } catch (error) {
    if (code(error) === 'ENOENT') return;
    throw error;
  }
  try {
    if ((await readText(aside)) !== expected) await link(aside, file).catch(() => {});
  } finally {
    await unlink(aside).catch(() => {});
  }
}

/**
 * A lock shared by the processes of one machine through files: `run(name, task)` holds
 * `<path>.<name>.lock`, created exclusively (`O_EXCL`), for as long as the task runs. A lock
 * left by a process that died is taken over at once; one held by a live process is waited for
 * at most `maxWaitMs`. `holdShared` and `isHeld` let a starting process tell a live
 * re-authentication in another process from one that was interrupted.
 *
 * {@link FileTokenStore} has one beside its file (`store.lock`); pass it as the manager's
 * `lock` so that processes sharing the store refresh once.
 *
 * @param path - where the lock files go: `<path>.<name>.lock` (the store's file path, say)
 */
export function fileLock(path: string, options: FileLockOptions = {}): LockPort {
  const clock = options.clock ?? systemClock;
  const maxWaitMs = options.maxWaitMs ?? 10_000;
  const pollMs = options.pollMs ?? 25;
  const lockFile = (name: string) => `${path}.${safeName(name)}.lock`;
  const sharedPrefix = (name: string) => `${basename(path)}.${safeName(name)}.`;
  const holder = (): Holder => ({ pid: process.pid, host: hostname(), token: randomBytes(12).toString('hex') });

  /** Creates `file` with `content` unless it exists; false when it does. */
  async function createExclusive(file: string, content: string): Promise<boolean> {
    for (;;) {
      try {
        const handle = await open(file, 'wx', 0o600);
        try {
          try {
            await handle.writeFile(content);
          } finally {
            await handle.close();
          }
        } catch (error) {
          // Left behind, a file this call made but could not fill (a full disk) would read as
          // a lock of nobody known: others would wait for it to age.
          await unlink(file).catch(() => {});
          throw error;
        }
        return true;
      } catch (error) {
        if (code(error) === 'EEXIST') return false;
        if (code(error) !== 'ENOENT') throw error;
        await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      }
    }
  }

  /** Whether the lock in `file` belongs to a process that is gone; if so, removes it. */
  async function clearIfAbandoned(file: string): Promise<boolean> {
    const text = await readText(file);
    if (text === null) return true;
    const current = parseHolder(text);
    if (current) {
      if (!holderIsGone(current)) return false;
    } else {
      // Unreadable: a holder that died between creating and writing it, or one still writing.
      const { mtimeMs } = await stat(file).catch(() => ({ mtimeMs: 0 }));
      if (Date.now() - mtimeMs < 5_000) return false;
    }
    options.logger?.warn('taking over a lock left by a process that is gone', { lock: basename(file) });
    await removeIfUnchanged(file, text);
    return true;
  }

  return {
    async run<T>(name: string, task: (context?: LockContext) => Promise<T>): Promise<T> {
      const file = lockFile(name);
      const me = holder();
      const content = JSON.stringify(me);
      const deadline = clock.now() + maxWaitMs;
      let waited = false;
      for (;;) {
        if (await createExclusive(file, content)) break;
        if (await clearIfAbandoned(file)) continue;
        waited = true;
        if (clock.now() >= deadline) {
          options.logger?.warn('lock wait timed out; refreshing without it', { lock: name, maxWaitMs });
          return task({ waited: true });
        }
        await sleep(clock, pollMs);
      }
      heldHere.add(me.token);
      try {
        return await task({ waited });
      } finally {
        heldHere.delete(me.token);
        if ((await readText(file).catch(() => null)) === content) await unlink(file).catch(() => {});
      }
    },

    holdShared(name, until) {
      const me = holder();
      const file = join(dirname(path), `${sharedPrefix(name)}${me.pid}-${me.token}.held`);
      heldHere.add(me.token);
      const created = createExclusive(file, JSON.stringify(me)).catch(() => false);
      const release = async () => {
        heldHere.delete(me.token);
        if (await created) await unlink(file).catch(() => {});
      };
      void until.then(release, release);
    },

    async isHeld(name) {
      if ((await readText(lockFile(name))) !== null && !(await clearIfAbandoned(lockFile(name)))) return true;
      const prefix = sharedPrefix(name);
      const entries = await readdir(dirname(path)).catch(() => [] as string[]);
      for (const entry of entries) {
        if (!entry.startsWith(prefix) || !entry.endsWith('.held')) continue;
        const file = join(dirname(path), entry);
        const text = await readText(file);
        const current = text === null ? null : parseHolder(text);
        if (current && !holderIsGone(current)) return true;
        if (current) await unlink(file).catch(() => {});
      }
      return false;
    },
  };
}
