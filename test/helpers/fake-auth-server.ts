import { http, HttpResponse, type RequestHandler } from 'msw';
import type { ManualClock } from '../../src/testing.ts';
import type { TokenResponse } from '../../src/types.ts';

export const TOKEN_URL = 'https://auth.test/oauth/token';
export const REVOKE_URL = 'https://auth.test/oauth/revoke';
export const API = 'https://api.test/v1/';

/** A failure the token endpoint plays once, in order, before answering normally. */
export type TokenFault =
  | { status: number; retryAfter?: string; body?: unknown }
  | 'network'
  | 'hang'
  | 'malformed'
  | 'invalid_grant'
  /** Answers normally once the promise settles (a grant still in flight). */
  | { defer: Promise<void> };

/**
 * An OAuth 2.0 server in memory (served through msw): rotating refresh tokens, access tokens
 * with lifetimes on the test's clock, and a protected API. Counts every grant it sees.
 */
export class FakeAuthServer {
  readonly clock: ManualClock;
  accessTtlSeconds = 3600;
  /** Every `refresh_token` grant received, good or bad. */
  refreshCalls = 0;
  /** Every jwt-bearer grant received. */
  assertionCalls = 0;
  revokeCalls: string[] = [];
  apiCalls = 0;
  faults: TokenFault[] = [];
  /** When set, the API rejects every token (a 401 loop). */
  rejectAllTokens = false;
  /** Extra fields in every token response. */
  extra: Record<string, unknown> = {};
  /** `false`: a refresh answers a new access token only and the refresh token stays valid. */
  rotate = true;
  readonly #access = new Map<string, number>();
  readonly #refresh = new Set<string>();
  #counter = 0;

  constructor(clock: ManualClock) {
    this.clock = clock;
  }

  /** A fresh token set, as the app's login would receive it. */
  issue(): TokenResponse {
    const n = ++this.#counter;
    const access = `at-${n}-${'x'.repeat(8)}`;
    const refresh = `rt-${n}-${'s'.repeat(16)}`;
    this.#access.set(access, this.clock.now() + this.accessTtlSeconds * 1000);
    this.#refresh.add(refresh);
    return {
      access_token: access,
      token_type: 'Bearer',
      expires_in: this.accessTtlSeconds,
      refresh_token: refresh,
      ...this.extra,
    };
  }

  /** Kills every refresh token (as a server-side revocation would). */
  revokeAll(): void {
    this.#refresh.clear();
  }

  /** Expires every access token now. */
  expireAccessTokens(): void {
    for (const token of this.#access.keys()) this.#access.set(token, 0);
  }

  handlers(): RequestHandler[] {
    return [
      http.post(TOKEN_URL, async ({ request }) => {
        const form = new URLSearchParams(await request.text());
        const grant = form.get('grant_type');
        if (grant === 'refresh_token') this.refreshCalls++;
        else if (grant === 'urn:ietf:params:oauth:grant-type:jwt-bearer') this.assertionCalls++;
        let fault = this.faults.shift();
        if (typeof fault === 'object' && 'defer' in fault) {
          await fault.defer;
          fault = undefined;
        }
        if (fault === 'network') return HttpResponse.error();
        if (fault === 'hang') return new Promise<never>(() => {});
        if (fault === 'malformed') return HttpResponse.json({ token_type: 'Bearer', expires_in: 'soon' });
        if (fault === 'invalid_grant') return HttpResponse.json({ error: 'invalid_grant' }, { status: 400 });
        if (fault) {
          const headers: Record<string, string> = fault.retryAfter ? { 'retry-after': fault.retryAfter } : {};
          return HttpResponse.json(fault.body ?? { error: 'temporarily_unavailable' }, {
            status: fault.status,
            headers,
          });
        }
        if (form.get('client_id') !== 'test-app') {
          return HttpResponse.json({ error: 'invalid_client' }, { status: 401 });
        }
        if (grant === 'refresh_token') {
          const presented = form.get('refresh_token') ?? '';
          if (!this.#refresh.has(presented)) return HttpResponse.json({ error: 'invalid_grant' }, { status: 400 });
          if (this.rotate) {
            this.#refresh.delete(presented);
            return HttpResponse.json(this.issue());
          }
          const { refresh_token: _unused, ...accessOnly } = this.issue();
          return HttpResponse.json(accessOnly);
        }
        if (grant === 'urn:ietf:params:oauth:grant-type:jwt-bearer' && form.get('assertion') === 'good-assertion') {
          return HttpResponse.json(this.issue());
        }
        return HttpResponse.json({ error: 'invalid_grant' }, { status: 400 });
      }),
      http.post(REVOKE_URL, async ({ request }) => {
        const form = new URLSearchParams(await request.text());
        this.revokeCalls.push(form.get('token') ?? '');
        this.#refresh.delete(form.get('token') ?? '');
        return new HttpResponse(null, { status: 200 });
      }),
      http.all(`${API}*`, ({ request }) => {
        this.apiCalls++;
        const token = request.headers.get('authorization')?.replace(/^Bearer /, '') ?? '';
        const expiresAt = this.#access.get(token);
        if (this.rejectAllTokens || expiresAt === undefined || expiresAt <= this.clock.now()) {
          return HttpResponse.json(
            { error: 'invalid_token' },
            { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_token"' } },
          );
        }
        const { pathname } = new URL(request.url);
        // `status/403` and the like: an answer other than 401, for the client to pass on.
        const status = /\/status\/(\d{3})$/.exec(pathname)?.[1];
        if (status) return HttpResponse.json({ error: 'as asked' }, { status: Number(status) });
        return HttpResponse.json({ ok: true, path: pathname });
      }),
    ];
  }
}
