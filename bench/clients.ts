/**
 * The clients compared, each set up the way its own documentation shows. Every one of them
 * keeps its tokens in a plain object (what `localStorage` would be in a browser); several
 * "contexts" (tabs) share that object and nothing else, unless the library offers more
 * (session-keeper shares its store and a lock).
 */
import axios, { type AxiosError } from 'axios';
import { createAuthRefresh } from 'axios-auth-refresh';
import ky, { type KyInstance } from 'ky';
import { MemoryTokenStore, SessionManager, inProcessLock, type TokenResponse } from 'session-keeper';
import { SessionManager as FetchSessionManager } from 'session-keeper/fetch';

export interface Endpoints {
  /** Base of the protected API, for example `http://127.0.0.1:1234/api`. */
  api: string;
  tokenEndpoint: string;
}

/** One context's handle: GET a path of the API and read the JSON body. */
export interface BenchClient {
  get(path: string): Promise<unknown>;
  dispose(): void;
}

export interface ClientKind {
  name: string;
  /** A short description for the results' notes. */
  setup: string;
  /** Creates `contexts` clients signed in with `initial`, sharing one token storage. */
  create(endpoints: Endpoints, initial: TokenResponse, contexts: number): Promise<BenchClient[]>;
}

/** What a browser app keeps in `localStorage`; shared by the contexts (tabs) of one client. */
interface SharedTokens {
  access: string;
  refresh: string;
}

const CLIENT_ID = 'bench';

function sharedTokens(initial: TokenResponse): SharedTokens {
  return { access: initial.access_token, refresh: initial.refresh_token ?? '' };
}

function refreshForm(tokens: SharedTokens): URLSearchParams {
  return new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh, client_id: CLIENT_ID });
}

function store(tokens: SharedTokens, body: TokenResponse): string {
  tokens.access = body.access_token;
  if (body.refresh_token) tokens.refresh = body.refresh_token;
  return body.access_token;
}

/** A non-2xx answer, for the hand-written fetch clients. */
export class HttpStatusError extends Error {
  readonly status: number;
  constructor(status: number, what: string) {
    super(`${what} answered HTTP ${status}`);
    this.name = 'HttpStatusError';
    this.status = status;
  }
}

function times<T>(n: number, make: () => T): T[] {
  return Array.from({ length: n }, make);
}

const sessionKeeper: ClientKind = {
  name: 'session-keeper',
  setup:
    '`new SessionManager({ tokenEndpoint, clientId })` + `createClient({ prefix })`; contexts share a `MemoryTokenStore` and an `inProcessLock()`',
  async create(endpoints, initial, contexts) {
    const store = new MemoryTokenStore();
    const lock = inProcessLock();
    const managers = times(
      contexts,
      () => new SessionManager({ tokenEndpoint: endpoints.tokenEndpoint, clientId: CLIENT_ID, store, lock }),
    );
    await managers[0]?.setTokens(initial);
    for (const manager of managers.slice(1)) await manager.restore();
    return managers.map((session) => {
      const api = session.createClient({ prefix: endpoints.api });
      return { get: (path) => api.get(path).json(), dispose: () => session.dispose() };
    });
  },
};

const sessionKeeperFetch: ClientKind = {
  name: 'session-keeper session.fetch',
  setup:
    '`new SessionManager({ tokenEndpoint, clientId, trustedOrigins: [api] })` from `session-keeper/fetch` (no ky), requests with `session.fetch(url)` then `response.json()`; contexts share a `MemoryTokenStore` and an `inProcessLock()`',
  async create(endpoints, initial, contexts) {
    const store = new MemoryTokenStore();
    const lock = inProcessLock();
    const origin = new URL(endpoints.api).origin;
    const managers = times(
      contexts,
      () =>
        new FetchSessionManager({
          tokenEndpoint: endpoints.tokenEndpoint,
          clientId: CLIENT_ID,
          store,
          lock,
          trustedOrigins: [origin],
        }),
    );
    await managers[0]?.setTokens(initial);
    for (const manager of managers.slice(1)) await manager.restore();
    return managers.map((session) => ({
      async get(path) {
        const response = await session.fetch(`${endpoints.api}/${path}`);
        if (!response.ok) {
          await response.body?.cancel();
          throw new HttpStatusError(response.status, 'the API');
        }
        return response.json();
      },
      dispose: () => session.dispose(),
    }));
  },
};

const axiosAuthRefresh: ClientKind = {
  name: 'axios + axios-auth-refresh',
  setup:
    'README setup: request interceptor reads the token; `createAuthRefresh(instance, refreshAuthLogic)` with defaults (`deduplicateRefresh: true` pauses the instance); refresh with the global `axios.post`. A 401 that arrives while the refresh runs is not retried: it fails (known: Flyrell/axios-auth-refresh#307, #90)',
  async create(endpoints, initial, contexts) {
    const tokens = sharedTokens(initial);
    return times(contexts, () => {
      const instance = axios.create({ baseURL: `${endpoints.api}/` });
      instance.interceptors.request.use((request) => {
        request.headers.Authorization = `Bearer ${tokens.access}`;
        return request;
      });
      createAuthRefresh(instance, async (failedRequest: AxiosError) => {
        const response = await axios.post<TokenResponse>(endpoints.tokenEndpoint, refreshForm(tokens));
        const access = store(tokens, response.data);
        if (failedRequest.response) failedRequest.response.config.headers.Authorization = `Bearer ${access}`;
      });
      return { get: async (path) => (await instance.get<unknown>(path)).data, dispose: () => {} };
    });
  },
};

function kyRefresh(endpoints: Endpoints, tokens: SharedTokens): Promise<string> {
  return ky
    .post(endpoints.tokenEndpoint, { body: refreshForm(tokens) })
    .json<TokenResponse>()
    .then((body) => store(tokens, body));
}

function kyWithRetryHook(endpoints: Endpoints, tokens: SharedTokens, refreshToken: () => Promise<string>): KyInstance {
  return ky.create({
    prefix: endpoints.api,
    retry: { statusCodes: [401] },
    hooks: {
      beforeRequest: [
        ({ request }) => {
          request.headers.set('Authorization', `Bearer ${tokens.access}`);
        },
      ],
      beforeRetry: [
        async ({ request }) => {
          const token = await refreshToken();
          request.headers.set('Authorization', `Bearer ${token}`);
        },
      ],
    },
  });
}

const kyDocs: ClientKind = {
  name: 'ky (docs FAQ pattern)',
  setup:
    "ky readme FAQ: `retry: { statusCodes: [401] }` + a `beforeRetry` hook that refreshes (every retrying request refreshes); ky's default retry delay (300 ms) applies",
  async create(endpoints, initial, contexts) {
    const tokens = sharedTokens(initial);
    return times(contexts, () => {
      const api = kyWithRetryHook(endpoints, tokens, () => kyRefresh(endpoints, tokens));
      return { get: (path) => api.get(path).json(), dispose: () => {} };
    });
  },
};

const kyShared: ClientKind = {
  name: 'ky + shared in-flight promise',
  setup: 'the FAQ pattern with one refresh promise shared by the requests that retry while it is in flight',
  async create(endpoints, initial, contexts) {
    const tokens = sharedTokens(initial);
    return times(contexts, () => {
      let inflight: Promise<string> | undefined;
      const refreshToken = () =>
        (inflight ??= kyRefresh(endpoints, tokens).finally(() => {
          inflight = undefined;
        }));
      const api = kyWithRetryHook(endpoints, tokens, refreshToken);
      return { get: (path) => api.get(path).json(), dispose: () => {} };
    });
  },
};

/**
 * The least a correct ky client must do (the fetch floor's logic on ky): a reference row that
 * separates ky's own per-request cost from session-keeper's.
 */
const kyFloor: ClientKind = {
  name: 'ky + hand-written single flight',
  setup:
    "reference: the fetch floor's logic on ky (`afterResponse` 401 -> shared refresh -> `ky.retry({ delay: 0 })`, once); separates ky's own cost from session-keeper's",
  async create(endpoints, initial, contexts) {
    const tokens = sharedTokens(initial);
    return times(contexts, () => {
      let inflight: Promise<string> | undefined;
      const tokenAfter401 = (used: string | undefined): Promise<string> => {
        if (tokens.access !== used) return Promise.resolve(tokens.access);
        return (inflight ??= kyRefresh(endpoints, tokens).finally(() => {
          inflight = undefined;
        }));
      };
      const api = ky.create({
        prefix: endpoints.api,
        hooks: {
          beforeRequest: [
            async ({ request }) => {
              const token = inflight ? await inflight : tokens.access;
              request.headers.set('Authorization', `Bearer ${token}`);
            },
          ],
          beforeRetry: [
            ({ request }) => {
              request.headers.set('Authorization', `Bearer ${tokens.access}`);
            },
          ],
          afterResponse: [
            async ({ request, response, retryCount }) => {
              if (response.status !== 401 || retryCount > 0) return;
              await tokenAfter401(request.headers.get('Authorization')?.slice(7));
              return ky.retry({ delay: 0 });
            },
          ],
        },
      });
      return { get: (path) => api.get(path).json(), dispose: () => {} };
    });
  },
};

/**
 * The floor: the least a correct client must do. One shared refresh promise; a 401 to a token
 * that was already replaced retries with the new one instead of refreshing again; one retry.
 */
const fetchFloor: ClientKind = {
  name: 'fetch + hand-written single flight',
  setup:
    'plain `fetch`; one shared refresh promise; a 401 answering an already-replaced token retries without refreshing; one retry per request',
  async create(endpoints, initial, contexts) {
    const tokens = sharedTokens(initial);
    return times(contexts, () => {
      let inflight: Promise<string> | undefined;
      const refresh = async (): Promise<string> => {
        const response = await fetch(endpoints.tokenEndpoint, { method: 'POST', body: refreshForm(tokens) });
        if (!response.ok) throw new HttpStatusError(response.status, 'the token endpoint');
        return store(tokens, (await response.json()) as TokenResponse);
      };
      const tokenAfter401 = (used: string): Promise<string> => {
        if (tokens.access !== used) return Promise.resolve(tokens.access);
        return (inflight ??= refresh().finally(() => {
          inflight = undefined;
        }));
      };
      const send = (path: string, token: string) =>
        fetch(`${endpoints.api}/${path}`, { headers: { authorization: `Bearer ${token}` } });
      return {
        async get(path) {
          let token = inflight ? await inflight : tokens.access;
          let response = await send(path, token);
          if (response.status === 401) {
            await response.body?.cancel();
            token = await tokenAfter401(token);
            response = await send(path, token);
          }
          if (!response.ok) {
            await response.body?.cancel();
            throw new HttpStatusError(response.status, 'the API');
          }
          return response.json();
        },
        dispose: () => {},
      };
    });
  },
};

/** The clients that handle refresh, in the tables' order. */
export const refreshClients: ClientKind[] = [
  sessionKeeper,
  sessionKeeperFetch,
  axiosAuthRefresh,
  kyDocs,
  kyShared,
  kyFloor,
  fetchFloor,
];

/** The reference rows the tables compare against. */
export const FETCH_FLOOR = fetchFloor.name;
export const KY_FLOOR = kyFloor.name;
export const SESSION_KEEPER = sessionKeeper.name;
export const SESSION_KEEPER_FETCH = sessionKeeperFetch.name;

/** Baselines for the steady state: no refresh logic at all, a fixed bearer token. */
export const rawKy: ClientKind = {
  name: 'raw ky (no auth logic)',
  setup: '`ky.create({ prefix, headers: { authorization } })`',
  async create(endpoints, initial, contexts) {
    return times(contexts, () => {
      const api = ky.create({ prefix: endpoints.api, headers: { authorization: `Bearer ${initial.access_token}` } });
      return { get: (path) => api.get(path).json(), dispose: () => {} };
    });
  },
};

export const rawFetch: ClientKind = {
  name: 'raw fetch (no auth logic)',
  setup: '`fetch(url, { headers: { authorization } })` then `response.json()`',
  async create(endpoints, initial, contexts) {
    const headers = { authorization: `Bearer ${initial.access_token}` };
    return times(contexts, () => ({
      async get(path) {
        const response = await fetch(`${endpoints.api}/${path}`, { headers });
        if (!response.ok) throw new HttpStatusError(response.status, 'the API');
        return response.json();
      },
      dispose: () => {},
    }));
  },
};

/** A short name for how a request failed, for the tables: `SessionExpiredError`, `HTTP 401`... */
export function describeFailure(error: unknown): string {
  if (axios.isAxiosError(error)) {
    const status = error.response?.status;
    return status === undefined ? `${error.name} (${error.code ?? 'no response'})` : `AxiosError ${status}`;
  }
  if (error instanceof Error) {
    const status =
      (error as { response?: { status?: number }; status?: number }).response?.status ??
      (error as { status?: number }).status;
    return status === undefined ? error.name : `${error.name} ${status}`;
  }
  return typeof error;
}
