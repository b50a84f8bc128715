/**
 * For Node.js: a session file that survives restarts, and a lock that lets several processes
 * share it: `import { FileTokenStore } from 'session-keeper/node'`. Kept out of the main entry,
 * which runs in browsers too.
 * @packageDocumentation
 * @module session-keeper/node
 */
export { FileTokenStore, type FileTokenStoreOptions } from './ports/file-token-store.ts';
export { fileLock, type FileLockOptions } from './ports/file-lock.ts';
