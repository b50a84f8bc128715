import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono, type Context } from 'hono';
import { cors } from 'hono/cors';
import type { AccessTokenClaims, AccessTokens } from './crypto/access-token.ts';
import type { SigningKey } from './crypto/signing-key.ts';
import type { GrantContext } from './grants/context.ts';
import { jwtBearerGrant } from './grants/jwt-bearer.ts';
import { login } from './grants/login.ts';
import { refreshGrant } from './grants/refresh.ts';
import { revoke } from './grants/revoke.ts';
import type { GrantKind } from './grant-log.ts';
import { readForm, readJsonObject, requireClientId } from './http/body.ts';
import { dpopChallenge, DpopRejection, type AcceptedProof, type DpopVerifier } from './http/dpop.ts';
import { invalidRequest, NO_STORE, OAuthError } from './http/errors.ts';
import type { RateLimiter } from './http/rate-limit.ts';

/** The RFC 7523 grant type URI. */
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** Everything the HTTP layer needs; built by `startServer`. */
export type AppDependencies = {
  grants: GrantContext;
  accessTokens: AccessTokens;
  signingKey: SigningKey;
  /** Per client_id and remote address. */
  rateLimiter: RateLimiter;
  /** Per remote address alone (a multiple of the per-client limit), so varying client_id does not escape it. */
  addressRateLimiter: RateLimiter;
  /** Sign-ins per remote address alone: tighter, since each one costs a password hash. */
  loginAddressRateLimiter: RateLimiter;
  /** Checks DPoP proofs (RFC 9449) at the token endpoint, the sign-in, revocation and the resources. */
  dpop: DpopVerifier;
  issuer: string;
  /** The server's clock (epoch ms): the `Date` of every response says it. */
  now: () => number;
};

type Env = { Variables: { claims: AccessTokenClaims; scheme: 'Bearer' | 'DPoP' } };

const DEMO_ITEMS = [
  { id: 1, name: 'Refresh tokens rotate on every use' },
  { id: 2, name: 'A reused refresh token revokes its family' },
  { id: 3, name: 'Access tokens are ES256 JWTs' },
];

function remoteAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function json(c: Context, body: string, headers: Record<string, string> = {}): Response {
  return c.body(body, 200, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
}

function bearerChallenge(description?: string): string {
  return description === undefined ? 'Bearer' : `Bearer error="invalid_token", error_description="${description}"`;
}

/** The `Date` header (RFC 9110 section 6.6.1) for a time, formatted once per second. */
function httpDates(now: () => number): () => string {
  let second = Number.NaN;
  let formatted = '';
  return () => {
    const current = Math.floor(now() / 1000);
    if (current !== second) {
      second = current;
      formatted = new Date(current * 1000).toUTCString();
    }
    return formatted;
  };
}

/** Builds the Hono application: routes, CORS, errors. */
export function createApp(deps: AppDependencies): Hono<Env> {
  const { grants, issuer, dpop } = deps;
  const app = new Hono<Env>();
  const httpDate = httpDates(deps.now);

  // `Date` from the server's own clock (the injected one in tests): DPoP clients set their
  // proofs' iat from it (RFC 9449 section 11.1), so it must be the clock that checks them.
  app.use('*', async (c, next) => {
    await next();
    c.res.headers.set('Date', httpDate());
  });

  // Any origin, no credentials: the SDK sends bearer or DPoP tokens, never cookies. A
  // browser client needs to send `DPoP` and to read `DPoP-Nonce` and `Date` (not a
  // CORS-safelisted response header).
  app.use(
    '*',
    cors({
      origin: '*',
      allowMethods: ['GET', 'POST', 'OPTIONS'],
      allowHeaders: ['Authorization', 'Content-Type', 'DPoP'],
      exposeHeaders: ['WWW-Authenticate', 'Retry-After', 'DPoP-Nonce', 'Date'],
      maxAge: 600,
    }),
  );

  app.get('/.well-known/oauth-authorization-server', (c) =>
    c.json({
      issuer,
      token_endpoint: grants.settings.tokenEndpoint,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      grant_types_supported: ['refresh_token', JWT_BEARER],
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
      response_types_supported: [],
      // Extensions (not registered): the first-party login endpoint and the policy.
      login_endpoint: `${issuer}/auth/login`,
      refresh_token_rotation: true,
      refresh_token_grace_seconds: grants.settings.refreshGraceSeconds,
      // RFC 9449 section 5.1.
      dpop_signing_alg_values_supported: dpop.algorithms,
    }),
  );

  app.get('/.well-known/jwks.json', (c) => c.json({ keys: [deps.signingKey.publicJwk] }));

  /**
   * The DPoP proof of a request to the authorization server (sign-in, token, revocation):
   * undefined without one; a refused proof is a 400 `invalid_dpop_proof` or
   * `use_dpop_nonce` (with `DPoP-Nonce`), logged under `grant`, before any grant work.
   */
  async function proofAt(c: Context, grant: GrantKind): Promise<AcceptedProof | undefined> {
    try {
      return await dpop.check({ header: c.req.header('dpop'), method: c.req.method, path: c.req.path });
    } catch (error) {
      if (!(error instanceof DpopRejection)) throw error;
      if (error.code === 'use_dpop_nonce') grants.record(grant, 'rejected', { reason: 'dpop nonce required' });
      else grants.record(grant, 'invalid', { reason: `dpop proof: ${error.message}` });
      throw error.atTokenEndpoint();
    }
  }

  /** Response headers after a request with `proof`: the fresher nonce, when there is one. */
  const nonceHeader = (proof: AcceptedProof | undefined): Record<string, string> =>
    proof?.nextNonce === undefined ? {} : { 'DPoP-Nonce': proof.nextNonce };

  app.post('/auth/login', async (c) => {
    const body = await readJsonObject(c.req.raw);
    const clientId = requireClientId(body.client_id);
    limit(c, 'login', clientId);
    // Checked before the password is: a refused proof costs no hash.
    const proof = await proofAt(c, 'login');
    return json(c, await login(grants, body, clientId, proof?.jkt), { ...NO_STORE, ...nonceHeader(proof) });
  });

  app.post('/oauth/token', async (c) => {
    const params = await readForm(c.req.raw);
    const clientId = requireClientId(params.get('client_id'));
    const grantType = params.get('grant_type');
    const grant = grantType === JWT_BEARER ? 'jwt-bearer' : 'refresh_token';
    limit(c, grant, clientId);
    if (grantType === undefined) throw invalidRequest('The grant_type parameter is required.');
    if (grantType !== 'refresh_token' && grantType !== JWT_BEARER) {
      grants.record('unsupported', 'rejected', { reason: 'unsupported grant type' });
      throw new OAuthError(400, 'unsupported_grant_type', 'Supported: refresh_token and jwt-bearer.');
    }
    const proof = await proofAt(c, grant);
    const body =
      grantType === 'refresh_token'
        ? await refreshGrant(grants, params, clientId, proof?.jkt)
        : await jwtBearerGrant(grants, params, clientId, proof?.jkt);
    return json(c, body, { ...NO_STORE, ...nonceHeader(proof) });
  });

  app.post('/oauth/revoke', async (c) => {
    const params = await readForm(c.req.raw);
    const rawClientId = params.get('client_id');
    const clientId = rawClientId === undefined ? undefined : requireClientId(rawClientId);
    limit(c, 'revoke', clientId ?? '');
    const proof = await proofAt(c, 'revoke');
    await revoke(grants, params, clientId, proof?.jkt);
    return c.body(null, 200, { ...NO_STORE, ...nonceHeader(proof) });
  });

  /** A resource's answer to a DPoP request whose token is refused (RFC 9449 section 7.1). */
  const invalidDpopToken = (description: string) =>
    new OAuthError(401, 'invalid_token', description, {
      'WWW-Authenticate': dpopChallenge(dpop.algorithms, 'invalid_token', description),
    });

  /**
   * `Authorization: DPoP <token>` (RFC 9449 section 7): the proof first (with `ath` of this
   * token; a nonce challenge or a bad proof is a 401 with a DPoP challenge), then the token,
   * which must be bound to the proof's key.
   */
  async function authorizeDpop(c: Context<Env>, header: string): Promise<void> {
    const match = /^DPoP +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
    if (!match?.[1]) throw invalidDpopToken('The access token is malformed.');
    const token = match[1];
    let proof: AcceptedProof | undefined;
    try {
      proof = await dpop.check({
        header: c.req.header('dpop'),
        method: c.req.method,
        path: c.req.path,
        accessToken: token,
      });
    } catch (error) {
      if (error instanceof DpopRejection) throw error.atResource(dpop.algorithms);
      throw error;
    }
    if (proof === undefined) {
      throw new DpopRejection('invalid_dpop_proof', 'no DPoP proof', undefined).atResource(dpop.algorithms);
    }
    let claims: AccessTokenClaims;
    try {
      claims = await deps.accessTokens.verify(token);
    } catch (error) {
      const expired = (error as { code?: string }).code === 'ERR_JWT_EXPIRED';
      throw invalidDpopToken(expired ? 'The access token expired.' : 'The access token is invalid.');
    }
    // A bearer token, or one bound to another key: the proof does not vouch for it.
    if (claims.cnf?.jkt !== proof.jkt) throw invalidDpopToken('The access token is not bound to the key of the proof.');
    c.set('claims', claims);
    c.set('scheme', 'DPoP');
    if (proof.nextNonce !== undefined) c.header('DPoP-Nonce', proof.nextNonce);
  }

  app.use('/api/*', async (c, next) => {
    const header = c.req.header('authorization');
    if (header !== undefined && /^DPoP(\s|$)/i.test(header)) {
      await authorizeDpop(c, header);
      return next();
    }
    const match = header === undefined ? null : /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
    if (header === undefined || !/^Bearer(\s|$)/i.test(header)) {
      throw new OAuthError(401, 'invalid_token', 'A bearer access token is required.', {
        'WWW-Authenticate': bearerChallenge(),
      });
    }
    const invalid = (description: string) =>
      new OAuthError(401, 'invalid_token', description, { 'WWW-Authenticate': bearerChallenge(description) });
    if (!match?.[1]) throw invalid('The access token is malformed.');
    let claims: AccessTokenClaims;
    try {
      claims = await deps.accessTokens.verify(match[1]);
    } catch (error) {
      const expired = (error as { code?: string }).code === 'ERR_JWT_EXPIRED';
      throw invalid(expired ? 'The access token expired.' : 'The access token is invalid.');
    }
    // RFC 9449 section 7.2: a DPoP-bound token is no bearer token (a thief could not prove the key).
    if (claims.cnf !== undefined) {
      throw invalidDpopToken('The access token is DPoP-bound: send it with the DPoP scheme and a proof.');
    }
    c.set('claims', claims);
    c.set('scheme', 'Bearer');
    await next();
  });

  app.get('/api/me', async (c) => {
    const claims = c.get('claims');
    const user = await grants.repository.findUserById(claims.sub);
    if (!user) {
      const description = 'The access token is invalid.';
      if (c.get('scheme') === 'DPoP') throw invalidDpopToken(description);
      throw new OAuthError(401, 'invalid_token', description, { 'WWW-Authenticate': bearerChallenge(description) });
    }
    return c.json({ sub: claims.sub, username: user.username, client_id: claims.client_id, session_id: claims.sid });
  });

  app.get('/api/items', (c) => c.json({ items: DEMO_ITEMS }));

  app.get('/api/slow', async (c) => {
    const raw = c.req.query('ms') ?? '0';
    if (!/^\d{1,9}$/.test(raw)) throw invalidRequest('ms must be a non-negative integer.');
    const ms = Math.min(Number(raw), 5000);
    // A real wait on purpose: this resource exists to make requests slow in tests.
    await new Promise((resolve) => setTimeout(resolve, ms));
    return c.json({ waited_ms: ms, sub: c.get('claims').sub });
  });

  // RFC 9110 section 15.5.6: a 405 names the methods the resource supports.
  const methods: Array<[string, string]> = [
    ['/.well-known/oauth-authorization-server', 'GET, HEAD, OPTIONS'],
    ['/.well-known/jwks.json', 'GET, HEAD, OPTIONS'],
    ['/auth/login', 'POST, OPTIONS'],
    ['/oauth/token', 'POST, OPTIONS'],
    ['/oauth/revoke', 'POST, OPTIONS'],
  ];
  for (const [path, allow] of methods) {
    app.all(path, () => {
      throw new OAuthError(405, 'method_not_allowed', 'This method is not allowed here.', { Allow: allow });
    });
  }

  app.notFound((c) => c.json({ error: 'not_found', error_description: 'No such endpoint.' }, 404));

  app.onError((error, c) => {
    if (error instanceof OAuthError) {
      return c.json(error.toBody(), error.status, {
        ...(c.req.path.startsWith('/api/') ? {} : NO_STORE),
        ...error.headers,
      });
    }
    // Never the request or its tokens: only the error's own message.
    console.error(JSON.stringify({ level: 'error', msg: 'unhandled error', path: c.req.path, error: String(error) }));
    return c.json({ error: 'server_error', error_description: 'Internal error.' }, 500, NO_STORE);
  });

  function limit(c: Context, grant: 'login' | 'refresh_token' | 'jwt-bearer' | 'revoke', clientId: string): void {
    const address = remoteAddress(c);
    try {
      if (grant === 'login') deps.loginAddressRateLimiter.check(address);
      deps.addressRateLimiter.hit(address);
      deps.rateLimiter.hit(`${clientId}\u0000${address}`);
      if (grant === 'login') deps.loginAddressRateLimiter.add(address);
    } catch (error) {
      // The client_id is not named: nothing ties it to a client yet (see GrantLogEntry).
      grants.record(grant, 'rate-limited', { reason: 'rate limit' });
      throw error;
    }
  }

  return app;
}
