/**
 * What FileTokenStore asks of the file system where the outcome cannot be seen from the files
 * alone: a save is flushed to disk (the new file before the rename, the folder after it, as a
 * crash would otherwise lose it), a watcher that fails is closed without failing the app, and a
 * change the platform gives no file name for is reported.
 * `node:fs/promises` and `node:fs` are wrapped for this file; every call reaches the real ones.
 */
import type { FSWatcher } from 'node:fs';
import { rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FileTokenStore } from '../../src/ports/file-token-store.ts';
import { STORED_SESSION, useTempDir } from '../helpers/files.ts';

const seen = vi.hoisted(() => ({ calls: [] as string[], watchers: [] as FSWatcher[] }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const name = (path: unknown) =>
    String(path)
      .split('/')
      .pop()!
      .replace(/\.[0-9a-f]{12}\.tmp$/, '.<tmp>');
  return {
    ...real,
    open: async (path: string, flags?: string, mode?: number) => {
      const handle: FileHandle = await real.open(path, flags, mode);
      seen.calls.push(`open ${name(path)} ${flags}`);
      return new Proxy(handle, {
        get(target, key) {
          const value = Reflect.get(target, key, target) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            if (key === 'sync' || key === 'close') seen.calls.push(`${String(key)} ${name(path)}`);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
    },
    rename: async (from: string, to: string) => {
      seen.calls.push(`rename ${name(from)} ${name(to)}`);
      return real.rename(from, to);
    },
  };
});

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return {
    ...real,
    watch: (...args: Parameters<typeof real.watch>) => {
      const watcher = real.watch(...args);
      seen.watchers.push(watcher);
      return watcher;
    },
  };
});

const tmp = useTempDir('sk-store-fs-');
beforeEach(() => {
  seen.calls.length = 0;
  seen.watchers.length = 0;
});
afterEach(() => rmSync(tmp.dir, { recursive: true, force: true }));

describe('FileTokenStore: a save is durable', () => {
  it('flushes the new file before the rename and the folder after it, closing both', async () => {
    await new FileTokenStore(join(tmp.dir, 'session.json')).save(STORED_SESSION);
    const folder = tmp.dir.split('/').pop()!;
    expect(seen.calls).toEqual([
      'open session.json.<tmp> wx',
      'sync session.json.<tmp>',
      'close session.json.<tmp>',
      'rename session.json.<tmp> session.json',
      `open ${folder} r`,
      `sync ${folder}`,
      `close ${folder}`,
    ]);
  });
});

describe('FileTokenStore: a watcher that fails', () => {
  it('is closed, and the error reaches neither the app nor the listener', async () => {
    let notices = 0;
    new FileTokenStore(join(tmp.dir, 'session.json')).subscribe(() => notices++);
    const [watcher] = seen.watchers;
    let closed = false;
    watcher!.once('close', () => (closed = true));
    expect(() => watcher!.emit('error', new Error('the folder went away'))).not.toThrow();
    await new Promise((resolve) => setImmediate(resolve)); // 'close' is emitted on the next tick
    expect(closed).toBe(true);
    expect(notices).toBe(0);
  });
});

describe('FileTokenStore: a change the platform does not name', () => {
  it('is reported: the file that changed may be the session file', () => {
    let notices = 0;
    const unsubscribe = new FileTokenStore(join(tmp.dir, 'session.json')).subscribe(() => notices++);
    const [watcher] = seen.watchers;
    watcher!.emit('change', 'rename', null); // fs.watch gives no file name on some platforms
    expect(notices).toBe(1);
    watcher!.emit('change', 'rename', 'other.json');
    expect(notices).toBe(1);
    unsubscribe();
  });
});
