/**
 * An OAuth 2.0 server in memory for the model-based tests, reached through a plain `fetch`
 * function (no msw, no sockets: thousands of runs must stay fast). Strict rotation with no
 * grace window, so a refresh token presented twice is caught as reuse, which is the
 * invariant under test. Time comes from the same manual clock as the SDK's.
 */
import type { Clock } from '../../src/ports/clock.ts';
import type { TokenResponse } from '../../src/types.ts';

export const TOKEN_URL = 'https://auth.model/oauth/token';
export const API_URL = 'https://api.model/';

/** A failure the token endpoint plays once, in order, for the next grants that reach it. */
export type EndpointFault = { status: 503 } | { status: 429; retryAfterSeconds: number } | { status: 500; html: true };

interface RefreshRecord {
  /** How many grants presented it (more than one is reuse). */
  presented: number;
  state: 'live' | 'rotated' | 'revoked';
  generation: number;
}

/** Counters the invariants read. */
export interface ServerStats {
  /** refresh_token grants that reached the server, whatever the outcome. */
  refreshGrants: number;
  /** Successful rotations. */
  rotations: number;
  /** Grants that presented an already rotated refresh token. */
  reuse: number;
  /** Grants that presented a revoked refresh token (after a revocation: expected once). */
  revokedPresented: number;
  /** Faults played. */
  faultsPlayed: number;
  /** Sign-ins (the app's login and the sign-in prompt). */
  logins: number;
  apiCalls: number;
  api401: number;
}

export class FakeOAuthServer {
  readonly clock: Clock;
  readonly accessTtlSeconds: number;
  /** While true, every request fails as a network error before reaching the server. */
  down = false;
  readonly faults: EndpointFault[] = [];
  readonly stats: ServerStats = {
    refreshGrants: 0,
    rotations: 0,
    reuse: 0,
    revokedPresented: 0,
    faultsPlayed: 0,
    logins: 0,
    apiCalls: 0,
    api401: 0,
  };
  readonly #refresh = new Map<string, RefreshRecord>();
  readonly #access = new Map<string, number>();
  #counter = 0;

  constructor(clock: Clock, accessTtlSeconds: number) {
    this.clock = clock;
    this.accessTtlSeconds = accessTtlSeconds;
  }

  /** A new token family, as a sign-in returns it. */
  login(): TokenResponse {
    this.stats.logins++;
    return this.#mint(0);
  }

  /** Revokes every refresh token (an administrator ended the sessions). */
  revokeAll(): void {
    for (const record of this.#refresh.values()) if (record.state === 'live') record.state = 'revoked';
  }

  /** Makes every access token issued so far invalid (a key rotation, say): the next use is a 401. */
  invalidateAccessTokens(): void {
    this.#access.clear();
  }

  /** The state of a refresh token the server issued, `undefined` for one it never issued. */
  refreshTokenState(token: string): RefreshRecord['state'] | undefined {
    return this.#refresh.get(token)?.state;
  }

  readonly fetch: typeof globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    // A real network hop: the answer never arrives in the same microtask as the request.
    await Promise.resolve();
    if (this.down) throw new TypeError('fetch failed');
    if (request.url === TOKEN_URL && request.method === 'POST') return this.#token(await request.text());
    if (request.url.startsWith(API_URL)) return this.#api(request);
    return json({ error: 'not_found' }, 404);
  };

  #mint(generation: number): TokenResponse {
    const n = ++this.#counter;
    const accessToken = `at-${n}`;
    const refreshToken = `rt-${n}`;
    this.#access.set(accessToken, this.clock.now() + this.accessTtlSeconds * 1000);
    this.#refresh.set(refreshToken, { presented: 0, state: 'live', generation });
    return {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: this.accessTtlSeconds,
      refresh_token: refreshToken,
    };
  }

  #token(body: string): Response {
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'refresh_token') return json({ error: 'unsupported_grant_type' }, 400);
    this.stats.refreshGrants++;
    const fault = this.faults.shift();
    if (fault) {
      this.stats.faultsPlayed++;
      if (fault.status === 429) {
        return json({ error: 'slow_down' }, 429, { 'retry-after': String(fault.retryAfterSeconds) });
      }
      if ('html' in fault) return new Response('<html>Internal Server Error</html>', { status: 500 });
      return json({ error: 'temporarily_unavailable' }, 503);
    }
    const record = this.#refresh.get(form.get('refresh_token') ?? '');
    if (!record) return json({ error: 'invalid_grant' }, 400);
    record.presented++;
    if (record.state === 'rotated') {
      this.stats.reuse++;
      return json({ error: 'invalid_grant' }, 400);
    }
    if (record.state === 'revoked') {
      this.stats.revokedPresented++;
      return json({ error: 'invalid_grant' }, 400);
    }
    record.state = 'rotated';
    this.stats.rotations++;
    return json(this.#mint(record.generation + 1), 200);
  }

  #api(request: Request): Response {
    this.stats.apiCalls++;
    const token = request.headers.get('authorization')?.replace(/^Bearer /, '') ?? '';
    const expiresAt = this.#access.get(token);
    if (expiresAt === undefined || expiresAt <= this.clock.now()) {
      this.stats.api401++;
      return json({ error: 'invalid_token' }, 401, { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
    return json({ ok: true }, 200);
  }
}

function json(body: unknown, status: number, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}
