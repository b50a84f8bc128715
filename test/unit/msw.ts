import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll } from 'vitest';

/** msw in Node for one unit test file: every request must meet a handler the test installed. */
export function useMsw() {
  const server = setupServer();
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }));
  afterEach(() => server.resetHandlers());
  afterAll(() => server.close());
  return server;
}

/** A request as a handler saw it, for assertions after the call. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: Headers;
  body: string;
}

export async function seen(request: Request): Promise<SeenRequest> {
  return { method: request.method, url: request.url, headers: request.headers, body: await request.text() };
}
