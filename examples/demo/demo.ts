/**
 * `npm run demo`: the reference server on its embedded SQLite default and a scripted client
 * session through the SDK (the built package, as users install it), printed as a timeline:
 * sign-in, requests, a background refresh, expiry, a 401 answered by a transparent refresh, a
 * burst of requests sharing one refresh, a network drop survived, a revocation followed by
 * re-authentication, and sign-out. Short token lifetimes keep it under ten seconds.
 *
 * Time is real, except where the script says the app "sleeps": then the device clock (the
 * SDK's `Clock` port) and the server's clock jump ahead together, as after a suspended app.
 */
import { HTTPError } from 'ky';
import {
  SessionExpiredError,
  SessionManager,
  MemoryTokenStore,
  createNetwork,
  type Clock,
  type TokenResponse,
} from 'session-keeper';
import { startServer, type GrantLogEntry } from '../server/src/index.ts';

const ACCESS_TOKEN_SECONDS = 3;
const CLIENT_ID = 'demo-app';
const started = performance.now();

// ── the timeline ────────────────────────────────────────────────────────────────────────
const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
const ACTORS = { app: 1, sdk: 36, http: 90, server: 33, ok: 32 } as const;
function line(actor: keyof typeof ACTORS, message: string): void {
  const at = `+${((performance.now() - started) / 1000).toFixed(3)}s`.padStart(9);
  console.log(`${paint(90, at)}  ${paint(ACTORS[actor], actor.padEnd(6))} ${message}`);
}
function step(title: string): void {
  console.log(`\n${paint(1, `── ${title} `.padEnd(96, '─'))}`);
}
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ── a device whose clock can jump (the app slept) and whose network can drop ─────────────
let sleptMs = 0;
/** How far the server's clock runs ahead of the device's. */
let serverAheadMs = 0;
const deviceClock: Clock = {
  now: () => Date.now() + sleptMs,
  setTimeout: (callback, ms) => setTimeout(callback, Math.min(Math.max(0, ms), 2_147_483_647)),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
let online = true;
const onlineListeners = new Set<() => void>();
const network = createNetwork(
  () => online,
  (onOnline) => {
    onlineListeners.add(onOnline);
    return () => onlineListeners.delete(onOnline);
  },
);
let logHttp = true;
/** The device's fetch: fails while offline, and prints what goes over the wire. */
const deviceFetch: typeof globalThis.fetch = async (input, init) => {
  const request = new Request(input, init);
  const path = new URL(request.url).pathname;
  const grant = path === '/oauth/token' ? new URLSearchParams(await request.clone().text()).get('grant_type') : null;
  const label = `${request.method} ${path}${grant ? ` (${grant})` : ''}`;
  if (!online) {
    if (logHttp) line('http', `${label} ✗ no network`);
    throw new TypeError('fetch failed');
  }
  const response = await globalThis.fetch(request);
  if (logHttp) line('http', `${label} → ${response.status}`);
  return response;
};

// ── the reference server ─────────────────────────────────────────────────────────────────
const server = await startServer({
  port: 0,
  accessTokenTtlSeconds: ACCESS_TOKEN_SECONDS,
  now: () => Date.now() + sleptMs + serverAheadMs,
  log: (entry: GrantLogEntry) => {
    if (logHttp) line('server', `${entry.grant} ${entry.outcome}${entry.reason ? ` (${entry.reason})` : ''}`);
  },
});
const count = (outcome: string, grant = 'refresh_token') =>
  server.grantLog.filter((e) => e.grant === grant && e.outcome === outcome).length;

async function login(username: string, password: string): Promise<TokenResponse> {
  const response = await deviceFetch(`${server.url}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password, client_id: CLIENT_ID }),
  });
  if (!response.ok) throw new Error(`sign-in failed: HTTP ${response.status}`);
  return (await response.json()) as TokenResponse;
}

// ── the app ──────────────────────────────────────────────────────────────────────────────
const session = new SessionManager({
  tokenEndpoint: server.tokenEndpoint,
  revocationEndpoint: server.revocationEndpoint,
  clientId: CLIENT_ID,
  store: new MemoryTokenStore(),
  clock: deviceClock,
  network,
  fetch: deviceFetch,
  backoff: { initialDelay: 400, maxDelay: 2000 },
  // The app's own sign-in screen; here the script plays the user typing the password again.
  signInPrompt: async (reason) => {
    line('app', `sign-in screen shown (reason: ${reason}); the user enters the password`);
    return login('alice', 'secret');
  },
});
const expiresIn = () => ((session.info!.accessTokenExpiresAt! - deviceClock.now()) / 1000).toFixed(1);
session.on('stateChange', ({ from, to }) => line('sdk', `state ${from} → ${to}`));
session.on('tokensChanged', ({ cause }) =>
  line('sdk', `new tokens in use (cause: ${cause}); access token valid ${expiresIn()} s`),
);
session.on('refreshFailed', ({ error, attempt, retryInMs }) =>
  line(
    'sdk',
    `refresh attempt ${attempt} failed (${error.name}); session kept, retry in ${Math.round(retryInMs)} ms or when online`,
  ),
);
session.on('reauthRequired', ({ reason }) => line('sdk', `re-authentication required (${reason})`));
session.on('reauthenticated', ({ method }) => line('sdk', `re-authenticated through the ${method}`));
session.on('signedOut', ({ reason }) => line('sdk', `signed out (${reason})`));
const api = session.createClient({ prefix: `${server.url}/api/`, fetch: deviceFetch, retry: 0 });

function sleep(ms: number): void {
  sleptMs += ms;
  line('app', `the app slept ${ms / 1000} s in the background (device and server clocks moved on)`);
}

let exitCode = 0;
try {
  step('1. start');
  line('server', `reference server on ${server.url}, SQLite (${server.databaseUrl.replace(/^sqlite:/, '')})`);
  line('server', `access tokens live ${ACCESS_TOKEN_SECONDS} s; refresh tokens rotate on every use`);

  step('2. sign in and use the API');
  line('app', 'alice signs in');
  await session.setTokens(await login('alice', 'secret'));
  const me = await api.get('me').json<{ username: string }>();
  line('ok', `GET /api/me: hello, ${me.username}`);

  step('3. the token nears expiry: the SDK refreshes it in the background');
  const refreshed = new Promise<void>((resolve) => {
    const off = session.on('refreshed', () => {
      off();
      resolve();
    });
  });
  line('app', 'idle; nothing to do');
  await refreshed;
  const items = await api.get('items').json<{ items: unknown[] }>();
  line('ok', `GET /api/items: ${items.items.length} items, with the refreshed token, no request ever waited`);

  step('4. expiry while the app slept: the next request waits for one refresh, transparently');
  sleep(5_000);
  await api.get('me').json();
  line('ok', 'GET /api/me succeeded: the SDK saw the expired token and refreshed before sending');

  step('5. the server rejects a token the app still trusts (401): one refresh, one retry');
  serverAheadMs += 4_000;
  line('app', "the server's clock runs 4 s ahead of the device's: it deems the token expired, the device does not");
  await api.get('me').json();
  line('ok', 'GET /api/me: 401 → refresh → retried → 200; the app never saw the 401');
  line('ok', 'from now on the clocks disagree by 4 s, which changes nothing: expiry is counted from receipt');

  step('6. a burst of 20 requests with an expired token shares one refresh');
  sleep(5_000);
  logHttp = false;
  const before = count('rotated');
  const burst = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => api.get(i % 2 ? 'me' : 'items').json()));
  logHttp = true;
  const ok = burst.filter((r) => r.status === 'fulfilled').length;
  line(
    'ok',
    `${ok}/20 requests succeeded; the server's grant log shows ${count('rotated') - before} refresh for all of them`,
  );

  step('7. the network drops during a refresh: requests wait, nobody is signed out');
  sleep(5_000);
  online = false;
  line('app', 'network lost (airplane mode)');
  const waiting = Promise.all([api.get('me').json(), api.get('items').json(), api.get('me').json()]);
  await wait(1_200);
  line('app', `${session.waitingRequests} requests waiting; state: ${session.state}`);
  online = true;
  line('app', 'network is back');
  for (const listener of onlineListeners) listener();
  await waiting;
  line('ok', 'the 3 waiting requests went out with the new token; the session survived the drop');

  step('8. an administrator revokes the session: re-authentication, then the requests resume');
  const revoked = await server.revokeUserSessions('alice');
  line('server', `all of alice's sessions revoked (${revoked})`);
  sleep(5_000);
  const afterReauth = await api.get('me').json<{ username: string }>();
  line('ok', `GET /api/me after re-authentication: hello again, ${afterReauth.username}`);

  step('9. sign out');
  await session.signOut();
  try {
    await api.get('me').json();
    throw new Error('a request after sign-out succeeded');
  } catch (error) {
    if (!(error instanceof SessionExpiredError)) throw error;
    line('ok', `a request after sign-out rejects with ${error.name} (${error.code})`);
  }

  step('summary');
  const tally = new Map<string, number>();
  for (const e of server.grantLog)
    tally.set(`${e.grant} ${e.outcome}`, (tally.get(`${e.grant} ${e.outcome}`) ?? 0) + 1);
  line('server', `grant log: ${[...tally].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
  line('server', `reuse detected: ${count('reuse-detected')} (a refresh token was never presented twice)`);
  line('ok', `done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
} catch (error) {
  exitCode = 1;
  const detail = error instanceof HTTPError ? `HTTP ${error.response.status}` : String(error);
  console.error(`\ndemo failed: ${detail}`);
} finally {
  session.dispose();
  await server.close();
}
process.exitCode = exitCode;
