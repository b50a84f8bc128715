/**
 * Real fetch-based clients (openapi-fetch, graphql-request, urql) on `session.fetch`, against
 * the reference server over real HTTP: the server on a fresh SQLite database, 60-second access
 * tokens whose expiry the test brings forward on the server's clock, and beside it a tiny
 * GraphQL endpoint (its own port, so a second trusted origin) that checks each bearer token
 * with the reference server's `/api/me`. The SDK is the built package's ky-free entry,
 * `session-keeper/fetch`, as a fetch-only app imports it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildSchema, graphql } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  inProcessLock,
  MemoryTokenStore,
  SessionExpiredError,
  SessionManager,
  type TokenResponse,
} from 'session-keeper/fetch';
import { ManualLifecycle, ManualNetwork } from 'session-keeper/testing';
import { backends, CLIENT_ID, settleAll, startE2EServer, tally, type E2EServer } from '../e2e/harness.ts';

const schema = buildSchema(`
  type Me { username: String!, sub: String! }
  type Query { me(n: Int): Me }
`);

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    request
      .setEncoding('utf8')
      .on('data', (chunk: string) => (body += chunk))
      .on('end', () => resolve(body))
      .on('error', reject);
  });
}

/** What a GraphQL request asks: a POSTed JSON body, or GET parameters (urql's default for queries). */
async function operationOf(
  request: IncomingMessage,
): Promise<{ query: string; variables: Record<string, unknown> | null }> {
  if (request.method === 'GET') {
    const params = new URL(request.url ?? '', 'http://x').searchParams;
    return {
      query: params.get('query') ?? '',
      variables: JSON.parse(params.get('variables') ?? 'null') as Record<string, unknown> | null,
    };
  }
  const { query, variables } = JSON.parse(await readBody(request)) as {
    query: string;
    variables?: Record<string, unknown>;
  };
  return { query, variables: variables ?? null };
}

/** /graphql (GET or POST): `{ me { username sub } }` for the bearer of a token the reference server accepts; 401 otherwise. */
async function startGraphQL(api: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(async (request, response) => {
    let operation;
    try {
      operation = await operationOf(request);
    } catch {
      response.writeHead(400, { 'content-type': 'application/json' });
      return response.end(JSON.stringify({ errors: [{ message: 'not a GraphQL request' }] }));
    }
    const me = await fetch(`${api}/api/me`, { headers: { authorization: request.headers.authorization ?? '' } });
    if (me.status !== 200) {
      await me.body?.cancel();
      response.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': me.headers.get('www-authenticate') ?? 'Bearer',
      });
      return response.end(JSON.stringify({ errors: [{ message: 'unauthenticated' }] }));
    }
    const user = (await me.json()) as { username: string; sub: string };
    const result = await graphql({
      schema,
      source: operation.query,
      variableValues: operation.variables,
      rootValue: { me: () => user },
    });
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(result));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/graphql`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Where the clients send: the reference server's REST API and the GraphQL endpoint. */
export interface Urls {
  api: string;
  graphql: string;
}

/**
 * One query of the client under test, by `session.fetch`; resolves with the username the
 * server answered and rejects with whatever the client rejects with.
 */
export type MakeQuery = (fetchFn: typeof globalThis.fetch, urls: Urls) => (n: number) => Promise<string>;

/** `error` or one of its causes (a client's wrapper, like urql's CombinedError) of `type`. */
function findCause<T>(error: unknown, type: new (...args: never[]) => T): T | undefined {
  for (
    let e = error;
    e;
    e = (e as { cause?: unknown; networkError?: unknown }).networkError ?? (e as { cause?: unknown }).cause
  ) {
    if (e instanceof type) return e;
  }
  return undefined;
}

/** The four behaviours every client shows on `session.fetch`. */
export function integrationSuite(client: string, makeQuery: MakeQuery): void {
  describe(`${client} on session.fetch, against the reference server`, () => {
    let main: E2EServer;
    let gql: Awaited<ReturnType<typeof startGraphQL>>;
    let urls: Urls;
    const sessions: SessionManager[] = [];
    const prompts: string[] = [];

    beforeAll(async () => {
      main = await startE2EServer(backends.sqlite);
      gql = await startGraphQL(main.server.url);
      urls = { api: `${main.server.url}/api`, graphql: gql.url };
    });
    afterAll(async () => {
      await gql?.close();
      await main?.stop();
    });
    afterEach(() => {
      for (const session of sessions.splice(0)) session.dispose();
      prompts.length = 0;
    });

    async function signedIn(tokens?: TokenResponse) {
      const session = new SessionManager({
        tokenEndpoint: main.server.tokenEndpoint,
        revocationEndpoint: main.server.revocationEndpoint,
        clientId: CLIENT_ID,
        store: new MemoryTokenStore(),
        lock: inProcessLock(),
        lifecycle: new ManualLifecycle(),
        network: new ManualNetwork(),
        backoff: { initialDelay: 100, maxDelay: 2000 },
        trustedOrigins: [main.server.url, new URL(gql.url).origin],
        signInPrompt: async (reason) => {
          prompts.push(reason);
          return main.login();
        },
      });
      sessions.push(session);
      await session.setTokens(tokens ?? (await main.quickLogin()));
      return { session, query: makeQuery(session.fetch, urls) };
    }

    it('an expired access token: one refresh, and the query succeeds', async () => {
      const { query } = await signedIn();
      const mark = main.mark();
      main.advance(61_000); // the server now deems the token expired; the SDK does not know
      expect(await query(1)).toBe('alice');
      expect(tally(main.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
    });

    it('a herd of 50 concurrent queries with an expired token: one refresh, none fails', async () => {
      const { query } = await signedIn();
      const mark = main.mark();
      main.advance(61_000);
      const results = await settleAll(Array.from({ length: 50 }, (_, n) => query(n)));
      expect(results.rejected).toEqual([]);
      expect(results.fulfilled).toBe(50);
      expect(tally(main.grantsSince(mark))).toEqual({ 'refresh_token:rotated': 1 });
    });

    it('a revoked session: the sign-in prompt, once, and the waiting queries succeed', async () => {
      const tokens = await main.quickLogin();
      const { query } = await signedIn(tokens);
      await main.revoke(tokens.refresh_token!);
      main.advance(61_000);
      const results = await settleAll(Array.from({ length: 5 }, (_, n) => query(n)));
      expect(results.rejected).toEqual([]);
      expect(prompts).toEqual(['refreshRejected']);
    });

    it('after a sign-out a query rejects with SessionExpiredError and sends nothing', async () => {
      const { session, query } = await signedIn();
      await session.signOut();
      const mark = main.mark();
      const error = await query(1).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(findCause(error, SessionExpiredError)).toBeInstanceOf(SessionExpiredError);
      expect(main.grantsSince(mark)).toEqual([]);
    });
  });
}
