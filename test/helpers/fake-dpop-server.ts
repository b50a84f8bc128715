import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify, type JWK } from 'jose';
import { http, HttpResponse, type RequestHandler } from 'msw';
import { athOf } from '../../src/dpop/proof.ts';
import type { ManualClock } from '../../src/testing.ts';
import type { TokenResponse } from '../../src/types.ts';

export const DPOP_TOKEN_URL = 'https://auth.test/oauth/token';
export const DPOP_REVOKE_URL = 'https://auth.test/oauth/revoke';
export const DPOP_API = 'https://api.test/v1/';

/** A proof the server accepted, decoded. */
export interface SeenProof {
  url: string;
  header: { typ?: string; alg?: string; jwk?: JWK };
  payload: { htm?: string; htu?: string; iat?: number; jti?: string; ath?: string; nonce?: string };
  thumbprint: string;
}

type Verdict = { thumbprint: string } | { error: 'invalid_dpop_proof' | 'use_dpop_nonce'; description: string };

/**
 * An authorization server and an API that check DPoP proofs as RFC 9449 says (served through
 * msw): signature with the embedded key, `typ`, `htm`, `htu`, an `iat` window on the server's
 * clock, unique `jti`, `ath` at the API, nonces when required; tokens bound to the key.
 */
export class FakeDpopServer {
  readonly clock: ManualClock;
  /** The server's clock minus the device's: a device set hours off has a large one. */
  serverOffsetMs = 0;
  /** Proofs need the current nonce (both servers; each origin has its own). */
  requireNonce = false;
  /** The nonce each origin wants now; a test may rotate it. */
  nonces: Record<string, string> = { 'https://auth.test': 'auth-nonce-1', 'https://api.test': 'api-nonce-1' };
  /** The token endpoint keeps answering use_dpop_nonce (a broken server). */
  alwaysAskForNonce = false;
  /** The API keeps answering the use_dpop_nonce challenge (a broken server). */
  apiAlwaysAsksForNonce = false;
  accessTtlSeconds = 3600;
  /** Every token-endpoint request. */
  tokenRequests = 0;
  /** Refresh grants answered with new tokens. */
  refreshes = 0;
  apiCalls = 0;
  /** Revocation requests, and whether each carried a proof. */
  revocations: { proof: boolean }[] = [];
  readonly accepted: SeenProof[] = [];
  readonly #jtis = new Set<string>();
  readonly #access = new Map<string, { jkt: string; expiresAt: number }>();
  readonly #refresh = new Map<string, string>();
  #counter = 0;

  constructor(clock: ManualClock) {
    this.clock = clock;
  }

  serverNow(): number {
    return this.clock.now() + this.serverOffsetMs;
  }

  /** A fresh token set bound to the key with `thumbprint` (the app's sign-in). */
  issue(thumbprint: string): TokenResponse {
    const n = ++this.#counter;
    const access = `dpop-at-${n}`;
    const refresh = `dpop-rt-${n}-${'s'.repeat(16)}`;
    this.#access.set(access, { jkt: thumbprint, expiresAt: this.clock.now() + this.accessTtlSeconds * 1000 });
    this.#refresh.set(refresh, thumbprint);
    return { access_token: access, token_type: 'DPoP', expires_in: this.accessTtlSeconds, refresh_token: refresh };
  }

  expireAccessTokens(): void {
    for (const entry of this.#access.values()) entry.expiresAt = 0;
  }

  /** Headers every answer carries: the server's `Date`, and its nonce when it wants one. */
  #headers(origin: string, extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { date: new Date(this.serverNow()).toUTCString(), ...extra };
    if (this.requireNonce || this.alwaysAskForNonce || this.apiAlwaysAsksForNonce)
      headers['dpop-nonce'] = this.nonces[origin]!;
    return headers;
  }

  async #verify(request: Request, accessToken?: string): Promise<Verdict> {
    const proof = request.headers.get('dpop');
    if (!proof) return { error: 'invalid_dpop_proof', description: 'no proof' };
    const url = new URL(request.url);
    let verified;
    try {
      verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256'] });
    } catch {
      return { error: 'invalid_dpop_proof', description: 'bad signature' };
    }
    const payload = verified.payload as SeenProof['payload'];
    const header = verified.protectedHeader as SeenProof['header'];
    if (payload.htm !== request.method) return { error: 'invalid_dpop_proof', description: 'htm' };
    if (payload.htu !== `${url.origin}${url.pathname}`) return { error: 'invalid_dpop_proof', description: 'htu' };
    if (typeof payload.iat !== 'number' || Math.abs(payload.iat * 1000 - this.serverNow()) > 60_000) {
      return { error: 'invalid_dpop_proof', description: 'iat' };
    }
    if (typeof payload.jti !== 'string' || this.#jtis.has(payload.jti))
      return { error: 'invalid_dpop_proof', description: 'jti' };
    if (accessToken !== undefined && payload.ath !== (await athOf(accessToken))) {
      return { error: 'invalid_dpop_proof', description: 'ath' };
    }
    const broken = url.origin === 'https://auth.test' ? this.alwaysAskForNonce : this.apiAlwaysAsksForNonce;
    if (broken || (this.requireNonce && payload.nonce !== this.nonces[url.origin])) {
      return { error: 'use_dpop_nonce', description: 'nonce' };
    }
    this.#jtis.add(payload.jti);
    const thumbprint = await calculateJwkThumbprint(header.jwk!);
    this.accepted.push({ url: request.url, header, payload, thumbprint });
    return { thumbprint };
  }

  handlers(): RequestHandler[] {
    const auth = 'https://auth.test';
    const api = 'https://api.test';
    return [
      http.post(DPOP_TOKEN_URL, async ({ request }) => {
        this.tokenRequests++;
        const form = new URLSearchParams(await request.clone().text());
        const verdict = await this.#verify(request);
        if ('error' in verdict) {
          return HttpResponse.json(
            { error: verdict.error, error_description: verdict.description },
            { status: 400, headers: this.#headers(auth) },
          );
        }
        // The app's own sign-in: a code exchange (any code), bound to the proof's key.
        if (form.get('grant_type') === 'authorization_code')
          return HttpResponse.json(this.issue(verdict.thumbprint), { headers: this.#headers(auth) });
        const presented = form.get('refresh_token') ?? '';
        if (form.get('grant_type') !== 'refresh_token' || this.#refresh.get(presented) !== verdict.thumbprint) {
          return HttpResponse.json({ error: 'invalid_grant' }, { status: 400, headers: this.#headers(auth) });
        }
        this.refreshes++;
        const { refresh_token: _kept, ...fresh } = this.issue(verdict.thumbprint); // bound tokens do not rotate
        return HttpResponse.json(fresh, { headers: this.#headers(auth) });
      }),
      http.post(DPOP_REVOKE_URL, async ({ request }) => {
        this.revocations.push({ proof: request.headers.has('dpop') });
        return new HttpResponse(null, { status: 200, headers: this.#headers(auth) });
      }),
      http.all(`${DPOP_API}*`, async ({ request }) => {
        this.apiCalls++;
        const [scheme, token = ''] = (request.headers.get('authorization') ?? '').split(' ');
        const challenge = (error: string) =>
          HttpResponse.json(
            { error },
            { status: 401, headers: this.#headers(api, { 'www-authenticate': `DPoP algs="ES256", error="${error}"` }) },
          );
        if (scheme !== 'DPoP') return challenge('invalid_token');
        const verdict = await this.#verify(request, token);
        if ('error' in verdict)
          return challenge(verdict.error === 'use_dpop_nonce' ? 'use_dpop_nonce' : 'invalid_dpop_proof');
        const bound = this.#access.get(token);
        if (!bound || bound.jkt !== verdict.thumbprint || bound.expiresAt <= this.clock.now())
          return challenge('invalid_token');
        return HttpResponse.json({ ok: true, path: new URL(request.url).pathname }, { headers: this.#headers(api) });
      }),
    ];
  }
}
