/**
 * The multi-tab test page: one SessionManager per tab, on the BUILT package as an app gets it
 * (`session-keeper`, bundled by Vite), with a `WebStorageTokenStore` (localStorage, shared by
 * the tabs of the origin), the default Web Locks lock and the default BroadcastChannel.
 *
 * The Playwright tests drive it through `window.sk` (see {@link TabControl}); the page also
 * shows its state, so the screenshots of a run say what each tab saw.
 *
 * Query string: `server` (the reference server's URL, required), `tab` (a label), `clientId`,
 * `offset` (initial clock offset, ms), `maxWaitMs` (bounded lock wait; default: the SDK's),
 * `broadcast=off` (only the `storage` event then tells the other tabs), `persistAccessToken=false`,
 * `prompt=hold` (a sign-in prompt that stays open until its signal aborts), `prompt=signin` (a
 * sign-in prompt that signs alice in at once, as a user typing the password would),
 * `dpop=on` (DPoP with the SDK's default key store: IndexedDB, shared by the tabs; the sign-in
 * carries a proof from the session's key).
 */
import { calculateJwkThumbprint, decodeProtectedHeader } from 'jose';
import ky from 'ky';
import {
  SessionManager,
  WebStorageTokenStore,
  systemClock,
  webLock,
  type Clock,
  type Logger,
  type SessionManagerOptions,
  type SessionState,
  type TokenResponse,
} from 'session-keeper';
import { dpop } from 'session-keeper/dpop';

/** What one batch of API requests came to. */
export interface RequestSummary {
  ok: number;
  failed: number;
  /** Error codes (or names) of the failed requests, with their counts. */
  errors: Record<string, number>;
  /** 401 answers the server gave during the batch (each is retried once by the client). */
  unauthorized: number;
  /** Tails of the access tokens the successful requests carried. */
  tokensUsed: string[];
  /** From the first request to the last settled one. */
  elapsedMs: number;
}

/** What the test can read of a tab. Contains no whole token. */
export interface TabSnapshot {
  tab: string;
  state: SessionState;
  /** The last 12 characters of the token the last successful request carried (`null` when signed out). */
  tokenTail: string | null;
  /** Requests this tab sent to the token endpoint (any grant). */
  tokenRequests: number;
  /** Sign-in prompts this tab has shown. */
  prompts: number;
  /** Events and log lines, oldest first. */
  events: string[];
  /** DPoP: the key thumbprints (RFC 7638) of the proofs this tab sent, in the order first seen. */
  jkts: string[];
  /** DPoP: proofs this tab sent (token endpoint, sign-in and API). */
  proofs: number;
  visibility: DocumentVisibilityState;
}

/** The control API the tests call with `page.evaluate(() => window.sk...)`. */
export interface TabControl {
  tab: string;
  lockName: string;
  /** Settles once `restore()` did. */
  ready: Promise<SessionState>;
  signIn(username?: string, password?: string): Promise<void>;
  signOut(): Promise<void>;
  snapshot(): TabSnapshot;
  /** The tail of `await session.getAccessToken()`: what a non-ky caller of this tab would use. */
  accessTokenTail(): Promise<string | null>;
  /** Sends `count` API requests now and waits for all of them. */
  request(count: number): Promise<RequestSummary>;
  /** Prepares `count` API requests that go out when any tab calls {@link TabControl.go}. */
  arm(count: number): void;
  /** Releases the armed requests of every tab of the origin at once. */
  go(): void;
  /** The summary of the armed batch, once every request settled. */
  settled(): Promise<RequestSummary>;
  /** `session.refresh()` without waiting for it. */
  startRefresh(): void;
  /** Shifts this origin's clock (every tab: it lives in localStorage). */
  setClockOffset(ms: number): void;
  /** Token endpoint requests from this tab hang (until the SDK's own deadline aborts them). */
  stallTokenEndpoint(stalled: boolean): void;
  /** Takes the session's refresh lock and never lets go, like a frozen tab. */
  holdLock(): Promise<void>;
  /** Names of the Web Locks held and requested in this origin. */
  locks(): Promise<{ held: string[]; pending: string[] }>;
  /** Simulates the tab going to the background or coming back (`visibilitychange`). */
  setVisible(visible: boolean): void;
  /** Resolves once the session is in `state` (rejects after `timeoutMs`). */
  waitForState(state: SessionState, timeoutMs?: number): Promise<void>;
  /** Deletes the DPoP key database of the origin (the key is gone, the tokens stay). */
  deleteDpopKeys(): Promise<void>;
}

declare global {
  interface Window {
    sk: TabControl;
    skLoadError?: string;
  }
}

const params = new URLSearchParams(location.search);
const serverUrl = params.get('server');
if (!serverUrl) throw new Error('The page needs ?server=<reference server URL>');
const tab = params.get('tab') ?? '?';
const clientId = params.get('clientId') ?? 'web-tabs';
// The default lock name: the client id and the store's id (the same in every tab).
const lockName = `session-keeper:${clientId}:web-storage:session`;
const OFFSET_KEY = 'sk-test:clock-offset';
const GO_CHANNEL = 'sk-test:go';
if (params.has('offset')) localStorage.setItem(OFFSET_KEY, params.get('offset') ?? '0');

const $ = (id: string): HTMLElement => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} missing`);
  return element;
};
const tail = (token: string | undefined | null): string | null => (token ? token.slice(-12) : null);

// --- observation: every line the tab sees, for the assertions and the screenshots ---------
const events: string[] = [];
const started = performance.now();
function note(line: string): void {
  const at = ((performance.now() - started) / 1000).toFixed(2).padStart(6);
  events.push(`${at}s ${line}`);
  const item = document.createElement('li');
  item.textContent = events.at(-1) ?? '';
  const log = $('log');
  log.append(item);
  while (log.childElementCount > 22) log.firstElementChild?.remove();
}
const logger: Logger = {
  debug: (message) => note(`debug: ${message}`),
  info: (message) => note(`info: ${message}`),
  warn: (message) => note(`WARN: ${message}`),
  error: (message) => note(`ERROR: ${message}`),
};

// --- the ports the tests steer ----------------------------------------------------------
/** Real timers, shifted time: moving the clock forward "expires" tokens without sleeping. */
const clock: Clock = {
  ...systemClock,
  now: () => systemClock.now() + Number(localStorage.getItem(OFFSET_KEY) ?? 0),
};

// DPoP: which key signed each proof this tab sent (read from the proof's header, as a server does).
const jkts: string[] = [];
let proofsSent = 0;
async function noteProof(proof: string | null | undefined): Promise<void> {
  if (!proof) return;
  proofsSent++;
  const jkt = await calculateJwkThumbprint(decodeProtectedHeader(proof).jwk!);
  if (!jkts.includes(jkt)) {
    jkts.push(jkt);
    note(`DPoP key …${jkt.slice(-8)}`);
  }
}
const proofOf = (headers: HeadersInit | undefined): string | null => new Headers(headers).get('dpop');

let tokenRequests = 0;
let stalled = false;
const tokenEndpoint = `${serverUrl}/oauth/token`;
const grantFetch: typeof fetch = async (input, init) => {
  const url = input instanceof Request ? input.url : String(input);
  await noteProof(input instanceof Request ? input.headers.get('dpop') : proofOf(init?.headers));
  if (url === tokenEndpoint) {
    tokenRequests++;
    render();
    if (stalled) {
      note('token request stalled');
      return new Promise((_, reject) => {
        const signal = init?.signal;
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
  }
  return fetch(input, init);
};

// --- the session, as an app would set it up ----------------------------------------------
const maxWaitMs = params.get('maxWaitMs');
const options: SessionManagerOptions = {
  tokenEndpoint,
  revocationEndpoint: `${serverUrl}/oauth/revoke`,
  clientId,
  store: new WebStorageTokenStore({ key: 'session' }),
  clock,
  logger,
  fetch: grantFetch,
};
if (maxWaitMs !== null) options.lock = webLock({ maxWaitMs: Number(maxWaitMs), logger });
if (params.get('broadcast') === 'off') options.broadcast = false;
if (params.get('persistAccessToken') === 'false') options.persistAccessToken = false;
const proofs = params.get('dpop') === 'on' ? dpop() : undefined;
if (proofs) options.dpop = proofs;
let prompts = 0;
if (params.get('prompt') === 'hold') {
  options.signInPrompt = (reason, { signal }) => {
    prompts++;
    note(`sign-in prompt shown (${reason})`);
    return new Promise((resolve) => signal.addEventListener('abort', () => resolve(null), { once: true }));
  };
}
if (params.get('prompt') === 'signin') {
  options.signInPrompt = async (reason) => {
    prompts++;
    note(`sign-in prompt shown (${reason}); alice signs in`);
    return login('alice', 'secret');
  };
}
const session = new SessionManager(options);

// Counts what the API answered; the Authorization header says which token was used.
let batch = { unauthorized: 0, tokens: new Set<string>() };
const apiFetch: typeof fetch = async (input, init) => {
  const request = new Request(input, init);
  await noteProof(request.headers.get('dpop'));
  const response = await fetch(request);
  const used = tail(request.headers.get('authorization'));
  if (response.status === 401) batch.unauthorized++;
  else if (response.ok && used) batch.tokens.add(used);
  return response;
};
const api = session.createClient({ prefix: `${serverUrl}/api`, fetch: apiFetch, timeout: 60_000 });

/** The first-party sign-in; with DPoP, signed with the session's key (a nonce asked for is sent once). */
async function login(username: string, password: string): Promise<TokenResponse> {
  const loginUrl = `${serverUrl}/auth/login`;
  const send = async () => {
    const proof = await proofs?.proof('POST', loginUrl);
    await noteProof(proof);
    const response = await ky.post(loginUrl, {
      json: { username, password, client_id: clientId },
      headers: proof ? { dpop: proof } : {},
      throwHttpErrors: false,
    });
    proofs?.observe(loginUrl, response);
    return response;
  };
  let response = await send();
  if (
    proofs &&
    response.status === 400 &&
    ((await response.clone().json()) as { error?: string }).error === 'use_dpop_nonce'
  )
    response = await send();
  if (!response.ok) throw new Error(`sign-in answered HTTP ${response.status}`);
  return (await response.json()) as TokenResponse;
}

let ok = 0;
let failed = 0;
session.on('stateChange', ({ from, to }) => {
  note(`state ${from} -> ${to}`);
  render();
});
session.on('tokensChanged', ({ cause }) => note(`tokens changed (${cause})`));
session.on('refreshFailed', ({ error, attempt }) => note(`refresh failed #${attempt}: ${error.name}`));
session.on('reauthRequired', ({ reason }) => note(`re-auth required: ${reason}`));
session.on('signedOut', ({ reason }) => note(`signed out (${reason})`));

async function runBatch(requests: Promise<unknown>[], t0: number): Promise<RequestSummary> {
  const results = await Promise.allSettled(requests);
  const summary: RequestSummary = {
    ok: 0,
    failed: 0,
    errors: {},
    unauthorized: batch.unauthorized,
    tokensUsed: [...batch.tokens],
    elapsedMs: Math.round(performance.now() - t0),
  };
  for (const result of results) {
    if (result.status === 'fulfilled') summary.ok++;
    else {
      summary.failed++;
      const error = result.reason as { code?: string; name?: string };
      const key = error.code ?? error.name ?? 'unknown';
      summary.errors[key] = (summary.errors[key] ?? 0) + 1;
    }
  }
  ok += summary.ok;
  failed += summary.failed;
  note(`batch of ${results.length}: ${summary.ok} ok, ${summary.failed} failed, ${summary.unauthorized} 401s`);
  render();
  return summary;
}

function send(count: number): Promise<RequestSummary> {
  batch = { unauthorized: 0, tokens: new Set() };
  const t0 = performance.now();
  const requests = Array.from({ length: count }, () => api.get('items').json());
  render();
  return runBatch(requests, t0);
}

let armed: Promise<RequestSummary> | undefined;
let visibility: DocumentVisibilityState = 'visible';
Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => visibility });
Object.defineProperty(document, 'hidden', { configurable: true, get: () => visibility === 'hidden' });

function render(): void {
  const state = session.state;
  $('tab').textContent = tab;
  $('state').textContent = state;
  $('state').dataset['state'] = state;
  const info = session.info;
  $('expires').textContent =
    info?.accessTokenExpiresAt == null ? '-' : `${Math.round((info.accessTokenExpiresAt - clock.now()) / 1000)} s`;
  $('token').textContent = state === 'signedOut' ? '-' : `…${[...batch.tokens].at(-1) ?? '(no request yet)'}`;
  $('grants').textContent = String(tokenRequests);
  $('requests').textContent = `${ok} / ${failed} / ${batch.unauthorized}`;
  $('visibility').textContent = visibility;
}
setInterval(render, 250);

const control: TabControl = {
  tab,
  lockName,
  ready: session.restore().then(
    (state) => {
      note(`restored: ${state}`);
      render();
      return state;
    },
    (error: unknown) => {
      note(`restore failed: ${String(error)}`);
      return session.state;
    },
  ),
  async signIn(username = 'alice', password = 'secret') {
    await session.setTokens(await login(username, password));
    note(`signed in as ${username}`);
    render();
  },
  async signOut() {
    await session.signOut();
    render();
  },
  snapshot: () => ({
    tab,
    state: session.state,
    tokenTail: session.state === 'signedOut' ? null : ([...batch.tokens].at(-1) ?? null),
    tokenRequests,
    prompts,
    events: [...events],
    visibility,
    jkts: [...jkts],
    proofs: proofsSent,
  }),
  async accessTokenTail() {
    return tail(await session.getAccessToken());
  },
  request: send,
  arm(count) {
    const channel = new BroadcastChannel(GO_CHANNEL);
    armed = new Promise<RequestSummary>((resolve) => {
      channel.onmessage = () => {
        channel.close();
        resolve(send(count));
      };
    });
    note(`armed ${count} requests`);
  },
  go() {
    const channel = new BroadcastChannel(GO_CHANNEL);
    channel.postMessage('go');
    channel.close();
  },
  settled() {
    if (!armed) return Promise.reject(new Error('nothing armed'));
    return armed;
  },
  startRefresh() {
    session.refresh().then(
      () => note('refresh() resolved'),
      (error: unknown) => note(`refresh() rejected: ${String(error)}`),
    );
  },
  setClockOffset(ms) {
    localStorage.setItem(OFFSET_KEY, String(ms));
    render();
  },
  stallTokenEndpoint(value) {
    stalled = value;
  },
  holdLock() {
    return new Promise<void>((resolve) => {
      void navigator.locks.request(lockName, () => {
        note('holding the refresh lock forever');
        resolve();
        return new Promise<never>(() => {});
      });
    });
  },
  async locks() {
    const snapshot = await navigator.locks.query();
    return {
      held: (snapshot.held ?? []).map((lock) => lock.name ?? ''),
      pending: (snapshot.pending ?? []).map((lock) => lock.name ?? ''),
    };
  },
  setVisible(visible) {
    visibility = visible ? 'visible' : 'hidden';
    note(`visibility -> ${visibility}`);
    document.dispatchEvent(new Event('visibilitychange'));
    render();
  },
  deleteDpopKeys() {
    return new Promise<void>((resolve, reject) => {
      const request = indexedDB.deleteDatabase('session-keeper-dpop');
      request.onsuccess = () => (note('DPoP key database deleted'), resolve());
      request.onerror = () => reject(request.error);
      request.onblocked = () => note('DPoP key database deletion blocked');
    });
  },
  waitForState(state, timeoutMs = 10_000) {
    if (session.state === state) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`tab ${tab}: still ${session.state} after ${timeoutMs} ms, expected ${state}`));
      }, timeoutMs);
      const off = session.on('stateChange', ({ to }) => {
        if (to !== state) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  },
};
window.sk = control;
render();
