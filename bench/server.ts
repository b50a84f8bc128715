/**
 * The benchmark's loopback server: an OAuth 2.0 token endpoint with refresh-token rotation and
 * a protected API, nothing more. It runs in its own process (started by `run.ts`) so that its
 * cost is small and the same for every client, and the client overhead is what differs.
 *
 * - `POST /login`: a fresh token family (access + refresh token).
 * - `POST /oauth/token` (form, `grant_type=refresh_token`): rotates. The just-retired refresh
 *   token stays usable for a grace window and then returns the same answer as the first time
 *   (as the reference server and most identity servers do), so a duplicate refresh costs a
 *   call but fails nobody. Anything else is `invalid_grant`.
 * - `GET /api/...`: 200 with a small JSON body for a live access token; else 401 with
 *   `WWW-Authenticate: Bearer error="invalid_token"`.
 * - `/_bench/*`: switches and counters for the harness (`reset`, `expire`, `mode`, `stats`).
 *
 * Prints `{"port":N}` on stdout once listening.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

const ACCESS_TTL_SECONDS = 3600;
const GRACE_MS = 30_000;

interface RefreshEntry {
  /** The answer given when this token was rotated; replayed inside the grace window. */
  replay?: string;
  retiredAt?: number;
}

export interface ServerStats {
  /** Every POST to the token endpoint, whatever the answer. */
  refreshCalls: number;
  refreshRotated: number;
  refreshReplayed: number;
  refresh503: number;
  refreshRejected: number;
  apiCalls: number;
  api401: number;
  logins: number;
}

const accessTokens = new Set<string>();
const refreshTokens = new Map<string, RefreshEntry>();
let stats: ServerStats = emptyStats();
/** How the token endpoint answers: normally, `invalid_grant` to everything, or 503 N times first. */
let mode = { invalidGrant: false, fail503: 0 };

function emptyStats(): ServerStats {
  return {
    refreshCalls: 0,
    refreshRotated: 0,
    refreshReplayed: 0,
    refresh503: 0,
    refreshRejected: 0,
    apiCalls: 0,
    api401: 0,
    logins: 0,
  };
}

function token(): string {
  return randomBytes(24).toString('base64url');
}

function issue(): string {
  const access = token();
  const refresh = token();
  accessTokens.add(access);
  refreshTokens.set(refresh, {});
  return JSON.stringify({
    access_token: access,
    token_type: 'Bearer',
    expires_in: ACCESS_TTL_SECONDS,
    refresh_token: refresh,
  });
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  req.setEncoding('utf8');
  for await (const chunk of req) body += chunk as string;
  return body;
}

const oauthError = (error: string) => JSON.stringify({ error });

function refreshGrant(form: URLSearchParams, res: ServerResponse): void {
  stats.refreshCalls++;
  if (mode.fail503 > 0) {
    mode.fail503--;
    stats.refresh503++;
    return send(res, 503, oauthError('temporarily_unavailable'));
  }
  const presented = form.get('refresh_token') ?? '';
  const entry = form.get('grant_type') === 'refresh_token' ? refreshTokens.get(presented) : undefined;
  if (mode.invalidGrant || !entry) {
    stats.refreshRejected++;
    return send(res, 400, oauthError('invalid_grant'));
  }
  if (entry.replay !== undefined) {
    if (Date.now() - (entry.retiredAt ?? 0) > GRACE_MS) {
      stats.refreshRejected++;
      return send(res, 400, oauthError('invalid_grant'));
    }
    stats.refreshReplayed++;
    return send(res, 200, entry.replay);
  }
  const answer = issue();
  entry.replay = answer;
  entry.retiredAt = Date.now();
  stats.refreshRotated++;
  send(res, 200, answer);
}

function api(req: IncomingMessage, res: ServerResponse): void {
  stats.apiCalls++;
  const header = req.headers.authorization ?? '';
  const presented = header.startsWith('Bearer ') ? header.slice(7) : '';
  if (!accessTokens.has(presented)) {
    stats.api401++;
    return send(res, 401, oauthError('invalid_token'), { 'www-authenticate': 'Bearer error="invalid_token"' });
  }
  send(res, 200, '{"items":[{"id":1,"name":"one"},{"id":2,"name":"two"}]}');
}

async function admin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  switch (url.pathname) {
    case '/_bench/reset':
      stats = emptyStats();
      mode = { invalidGrant: false, fail503: 0 };
      accessTokens.clear();
      refreshTokens.clear();
      return send(res, 200, '{}');
    case '/_bench/expire': // every access token issued so far is dead from now on
      accessTokens.clear();
      return send(res, 200, '{}');
    case '/_bench/mode':
      mode = {
        invalidGrant: url.searchParams.get('invalidGrant') === '1',
        fail503: Number(url.searchParams.get('fail503') ?? 0),
      };
      return send(res, 200, '{}');
    case '/_bench/stats':
      return send(res, 200, JSON.stringify(stats));
    default:
      await readBody(req);
      return send(res, 404, '{}');
  }
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const handle = async () => {
    if (url.pathname.startsWith('/api/')) return api(req, res);
    if (url.pathname.startsWith('/_bench/')) return admin(req, res, url);
    if (req.method === 'POST' && url.pathname === '/oauth/token') {
      return refreshGrant(new URLSearchParams(await readBody(req)), res);
    }
    if (req.method === 'POST' && url.pathname === '/login') {
      await readBody(req);
      stats.logins++;
      return send(res, 200, issue());
    }
    send(res, 404, '{}');
  };
  handle().catch((error: unknown) => {
    process.stderr.write(`bench server: ${String(error)}\n`);
    if (!res.headersSent) send(res, 500, '{}');
  });
});

// Clients keep their connections between runs; a long keep-alive avoids reconnect noise.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
