/**
 * One app process of test/e2e/file-token-store.test.ts: a SessionManager on a FileTokenStore
 * shared with other processes (the built package, imported by its name). It restores the
 * session, says `ready`, and on `go` sends `requests` API calls at once, then reports.
 *
 * argv: <session file> <token endpoint> <api prefix> <client id> <requests>
 */
import { SessionManager } from 'session-keeper';
import { FileTokenStore } from 'session-keeper/node';

const [path, tokenEndpoint, prefix, clientId, requests] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const send = (message: unknown) => new Promise<void>((resolve) => process.send!(message, () => resolve()));

const store = new FileTokenStore(path);
const session = new SessionManager({ tokenEndpoint, clientId, store, lock: store.lock });
const refreshes: string[] = [];
session.on('tokensChanged', ({ cause }) => refreshes.push(cause));
const state = await session.restore();
const api = session.createClient({ prefix });

process.once('message', async () => {
  const statuses = await Promise.all(
    Array.from({ length: Number(requests) }, () =>
      api.get('me').then(
        (response) => response.status,
        (error: unknown) => String(error),
      ),
    ),
  );
  await send({ state, statuses, refreshes, accessToken: await session.getAccessToken() });
  session.dispose();
  process.disconnect();
});
await send('ready');
