import { randomBytes } from 'node:crypto';
import { mkdirSync, watch } from 'node:fs';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { StoredSession } from '../types.ts';
import { fileLock, type FileLockOptions } from './file-lock.ts';
import type { LockPort } from './lock.ts';
import type { TokenStore } from './token-store.ts';

/** Options of {@link FileTokenStore}. */
export interface FileTokenStoreOptions {
  /** Options of the store's {@link FileTokenStore.lock}. */
  lock?: FileLockOptions;
}

const code = (error: unknown) => (error as NodeJS.ErrnoException | null)?.code;

/**
 * Keeps the session as JSON in a file, for Node.js apps and CLIs that stay signed in across
 * runs (`import { FileTokenStore } from 'session-keeper/node'`).
 *
 * - **Owner only.** The file is created with mode `0600`, and a missing folder with `0700`.
 * - **Atomic.** A save writes a temporary file beside it, flushes it to disk and renames it
 *   over the old one: a reader, or a crash, sees the old session or the new one, never half.
 * - **Several processes.** {@link FileTokenStore.lock} is a lock file beside it; pass it as
 *   the manager's `lock` and processes sharing the file refresh once, the others adopting the
 *   new tokens. `subscribe` watches the file, so a running process follows another's refresh
 *   or sign-out.
 *
 * @example
 * ```ts
 * const store = new FileTokenStore(join(homedir(), '.config', 'my-cli', 'session.json'));
 * const session = new SessionManager({ tokenEndpoint, clientId, store, lock: store.lock });
 * ```
 */
export class FileTokenStore implements TokenStore {
  /** The session file. */
  readonly path: string;
  /** A lock shared by the processes using this file: `<path>.<lock name>.lock` (see {@link fileLock}). */
  readonly lock: LockPort;

  /** @param path - the session file; its folder is created (mode `0700`) when missing */
  constructor(path: string, options: FileTokenStoreOptions = {}) {
    this.path = path;
    this.lock = fileLock(path, options.lock);
  }

  /** The parsed file, `null` when there is none; an unreadable file comes back as a value the manager rejects (and clears). */
  async load(): Promise<unknown> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if (code(error) === 'ENOENT') return null;
      throw error;
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return { corrupt: true }; // the manager sees an unreadable session and clears it
    }
  }

  /** Replaces the file atomically (write beside it, flush, rename), readable by its owner only. */
  async save(session: StoredSession): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const temporary = `${this.path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const handle = await open(temporary, 'wx', 0o600);
      try {
        await handle.writeFile(JSON.stringify(session));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, this.path);
    } catch (error) {
      await unlink(temporary).catch(() => {});
      throw error;
    }
    await syncFolder(dirname(this.path));
  }

  /** Deletes the file. */
  async clear(): Promise<void> {
    try {
      await unlink(this.path);
    } catch (error) {
      if (code(error) !== 'ENOENT') throw error;
    }
  }

  /** Calls `listener` when the file changes (another process saved or cleared it); never keeps the process alive. */
  subscribe(listener: () => void): () => void {
    const folder = dirname(this.path);
    const name = basename(this.path);
    try {
      mkdirSync(folder, { recursive: true, mode: 0o700 });
      const watcher = watch(folder, { persistent: false }, (_event, file) => {
        if (file === null || file === name) listener();
      });
      watcher.on('error', () => watcher.close());
      return () => watcher.close();
    } catch {
      return () => {}; // no file watching here: the lock's re-read still keeps processes in step
    }
  }
}

/** Makes a rename durable (POSIX); a no-op where folders cannot be opened (Windows). */
async function syncFolder(folder: string): Promise<void> {
  try {
    const handle = await open(folder, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // best effort
  }
}
