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
import { readForm, readJsonObject, requireClientId } from './http/body.ts';
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
  issuer: string;
};

type Env = { Variables: { claims: AccessTokenClaims } };

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

/** Builds the Hono application: routes, CORS, errors. */
export function createApp(deps: AppDependencies): Hono<Env> {
  const { grants, issuer } = deps;
  const app = new Hono<Env>();

  // Any origin, no credentials: the SDK sends bearer tokens, never cookies.
  app.use(
    '*',
    cors({
      origin: '*',
      allowMethods: ['GET', 'POST', 'OPTIONS'],
      allowHeaders: ['Authorization', 'Content-Type'],
      exposeHeaders: ['WWW-Authenticate', 'Retry-After'],
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
    }),
  );

  app.get('/.well-known/jwks.json', (c) => c.json({ keys: [deps.signingKey.publicJwk] }));

  app.post('/auth/login', async (c) => {
    const body = await readJsonObject(c.req.raw);
    const clientId = requireClientId(body.client_id);
    limit(c, 'login', clientId);
    return json(c, await login(grants, body, clientId), NO_STORE);
  });

  app.post('/oauth/token', async (c) => {
    const params = await readForm(c.req.raw);
    const clientId = requireClientId(params.get('client_id'));
    const grantType = params.get('grant_type');
    limit(c, grantType === JWT_BEARER ? 'jwt-bearer' : 'refresh_token', clientId);
    if (grantType === undefined) throw invalidRequest('The grant_type parameter is required.');
    if (grantType === 'refresh_token') return json(c, await refreshGrant(grants, params, clientId), NO_STORE);
    if (grantType === JWT_BEARER) return json(c, await jwtBearerGrant(grants, params, clientId), NO_STORE);
    grants.record('unsupported', 'rejected', { reason: 'unsupported grant type' });
    throw new OAuthError(400, 'unsupported_grant_type', 'Supported: refresh_token and jwt-bearer.');
  });

  app.post('/oauth/revoke', async (c) => {
    const params = await readForm(c.req.raw);
    const rawClientId = params.get('client_id');
    const clientId = rawClientId === undefined ? undefined : requireClientId(rawClientId);
    limit(c, 'revoke', clientId ?? '');
    await revoke(grants, params, clientId);
    return c.body(null, 200, NO_STORE);
  });

  app.use('/api/*', async (c, next) => {
    const header = c.req.header('authorization');
    const match = header === undefined ? null : /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
    if (header === undefined || !/^Bearer(\s|$)/i.test(header)) {
      throw new OAuthError(401, 'invalid_token', 'A bearer access token is required.', {
        'WWW-Authenticate': bearerChallenge(),
      });
    }
    const invalid = (description: string) =>
      new OAuthError(401, 'invalid_token', description, { 'WWW-Authenticate': bearerChallenge(description) });
    if (!match?.[1]) throw invalid('The access token is malformed.');
    try {
      c.set('claims', await deps.accessTokens.verify(match[1]));
    } catch (error) {
      const expired = (error as { code?: string }).code === 'ERR_JWT_EXPIRED';
      throw invalid(expired ? 'The access token expired.' : 'The access token is invalid.');
    }
    await next();
  });

  app.get('/api/me', async (c) => {
    const claims = c.get('claims');
    const user = await grants.repository.findUserById(claims.sub);
    if (!user) {
      throw new OAuthError(401, 'invalid_token', 'The access token is invalid.', {
        'WWW-Authenticate': bearerChallenge('The access token is invalid.'),
      });
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
