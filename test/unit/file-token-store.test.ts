/**
 * FileTokenStore (session-keeper/node) on a real folder, beyond test/file-token-store.test.ts:
 * failures that must reach the caller and leave nothing behind, and which changes its
 * `subscribe` reports (the session file's, not its neighbours').
 */
import { watch, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileTokenStore } from '../../src/ports/file-token-store.ts';
import { STORED_SESSION, useTempDir } from '../helpers/files.ts';

/** The file descriptors this process has open (POSIX). */
const openFiles = () => readdirSync('/dev/fd').length;

const tmp = useTempDir('sk-file-store-unit-');

/**
 * Resolves when `name` in `dir` changes, as seen by a watcher of the test's own. Watchers of one
 * folder get each change in the same turn of the event loop, so by then the store's has too.
 */
function changeOf(name: string): Promise<void> {
  return new Promise((resolve) => {
    const watcher = watch(tmp.dir, (_event, file) => {
      if (file !== name) return;
      watcher.close();
      // One more turn: the store's watcher, called in the same batch, has run its listener.
      setImmediate(resolve);
    });
  });
}

describe('FileTokenStore: failures', () => {
  it('a save that cannot replace the file rejects and leaves no temporary file behind', async () => {
    const path = join(tmp.dir, 'session.json');
    mkdirSync(join(path, 'inside'), { recursive: true }); // a folder where the file should be
    await expect(new FileTokenStore(path).save(STORED_SESSION)).rejects.toMatchObject({ code: 'EISDIR' });
    expect(readdirSync(tmp.dir)).toEqual(['session.json']);
  });

  it('a save whose folder cannot be made rejects', async () => {
    writeFileSync(join(tmp.dir, 'plain'), '');
    await expect(new FileTokenStore(join(tmp.dir, 'plain', 'session.json')).save(STORED_SESSION)).rejects.toMatchObject(
      {
        code: 'EEXIST',
      },
    );
  });

  it('a clear that cannot delete the file rejects (a folder where the file should be)', async () => {
    const path = join(tmp.dir, 'session.json');
    mkdirSync(path);
    await expect(new FileTokenStore(path).clear()).rejects.toMatchObject({ code: 'EISDIR' });
  });

  it('a load of a file that is not JSON gives back the unreadable marker of the web store, never throws', async () => {
    const path = join(tmp.dir, 'session.json');
    writeFileSync(path, 'not json');
    expect(await new FileTokenStore(path).load()).toEqual({ corrupt: true });
  });

  it('saves a file of exactly the session, mode 0600, in a folder it made with mode 0700', async () => {
    const path = join(tmp.dir, 'new', 'session.json');
    const store = new FileTokenStore(path);
    await store.save(STORED_SESSION);
    expect(await store.load()).toEqual(STORED_SESSION);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(tmp.dir, 'new')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(tmp.dir, 'new'))).toEqual(['session.json']);
  });
});

describe('FileTokenStore: resources', () => {
  it('closes every file and folder it opens to save', async () => {
    const store = new FileTokenStore(join(tmp.dir, 'session.json'));
    await store.save(STORED_SESSION);
    const before = openFiles();
    for (let i = 0; i < 20; i++) await store.save(STORED_SESSION);
    expect(openFiles() - before).toBeLessThan(10); // one left open per save would be 20
  });

  it('its watcher never keeps the process alive', () => {
    const watchers = () => process.getActiveResourcesInfo().filter((type) => type === 'FSEventWrap').length;
    const before = watchers();
    const unsubscribe = new FileTokenStore(join(tmp.dir, 'session.json')).subscribe(() => {});
    expect(watchers()).toBe(before);
    unsubscribe();
  });
});

describe('FileTokenStore: subscribe', () => {
  it('is not told about other files in the folder', async () => {
    const store = new FileTokenStore(join(tmp.dir, 'session.json'));
    let notices = 0;
    const unsubscribe = store.subscribe(() => notices++);
    const other = changeOf('other.json');
    writeFileSync(join(tmp.dir, 'other.json'), '{}');
    await other;
    expect(notices).toBe(0);
    const own = changeOf('session.json');
    await new FileTokenStore(join(tmp.dir, 'session.json')).save(STORED_SESSION);
    await own;
    expect(notices).toBeGreaterThan(0);
    unsubscribe();
  });

  it('is told nothing after unsubscribing', async () => {
    const path = join(tmp.dir, 'session.json');
    let notices = 0;
    const unsubscribe = new FileTokenStore(path).subscribe(() => notices++);
    unsubscribe();
    const change = changeOf('session.json');
    writeFileSync(path, '{}');
    await change;
    expect(notices).toBe(0);
  });

  it('makes a missing folder (mode 0700) to watch, so a session saved there later is noticed', async () => {
    const folder = join(tmp.dir, 'later');
    const path = join(folder, 'session.json');
    let noticed: () => void = () => {};
    const notice = new Promise<void>((resolve) => (noticed = resolve));
    const unsubscribe = new FileTokenStore(path).subscribe(() => noticed());
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    await new FileTokenStore(path).save(STORED_SESSION);
    await notice;
    unsubscribe();
  });

  it('where the folder cannot be watched, returns a working unsubscribe instead of throwing', () => {
    writeFileSync(join(tmp.dir, 'plain'), '');
    const store = new FileTokenStore(join(tmp.dir, 'plain', 'session.json'));
    let unsubscribe: (() => void) | undefined;
    expect(() => (unsubscribe = store.subscribe(() => {}))).not.toThrow();
    expect(() => unsubscribe!()).not.toThrow();
  });
});
