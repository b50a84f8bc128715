/**
 * The two ways an app sends requests through the session, behind one shape, so that one suite
 * holds both to the same guarantees: the ky client (`session.createClient`) and
 * `session.fetch`. Each answers a `Response` (ky's `HTTPError` is unwrapped to its response:
 * a status is never the session's failure) or rejects with why the request could not go out.
 */
import { HTTPError } from 'ky';
import type { SessionManager } from '../../src/index.ts';
import type { SessionManagerOptions } from '../../src/options.ts';
import { API } from '../helpers/fake-auth-server.ts';

/** What a test sends: a path under the fake API, and the usual `fetch` options. */
export type Send = (path: string, init?: RequestInit) => Promise<Response>;

export interface ClientKind {
  name: string;
  /**
   * The options a manager needs for this client (`session.fetch` needs its origins), and the
   * sender over `session`; `fetch` is where the client's requests go (a spy, in some tests).
   */
  managerOptions(fetchFn?: typeof globalThis.fetch): Partial<SessionManagerOptions>;
  sender(session: SessionManager, fetchFn?: typeof globalThis.fetch): Send;
}

export const kyClient: ClientKind = {
  name: 'the ky client',
  managerOptions: () => ({}),
  sender(session, fetchFn) {
    // ky's own timeout runs on real time: off, so that a loaded machine cannot fail a fake-clock test.
    const api = session.createClient({ prefix: API, timeout: false, ...(fetchFn ? { fetch: fetchFn } : {}) });
    return (path, init = {}) =>
      api(path, init as never).then(
        (response) => response,
        (error: unknown) => {
          if (error instanceof HTTPError) return error.response;
          throw error;
        },
      );
  },
};

export const fetchClient: ClientKind = {
  name: 'session.fetch',
  // The manager's `fetch` carries grants too: the spy passes them through untouched.
  managerOptions: (fetchFn) => ({ trustedOrigins: [API], ...(fetchFn ? { fetch: fetchFn } : {}) }),
  sender: (session) => (path, init) => session.fetch(`${API}${path}`, init),
};

/** Every request the API got from a client, read back from a copy (the original goes out). */
export interface Sent {
  body: string;
  type: string | null;
  token: string | null;
}

/** A `fetch` that records each API request's body, content type and token, then sends it. */
export function recordingFetch() {
  const sent: Sent[] = [];
  const fetchFn: typeof globalThis.fetch = async (input, init) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(API)) return globalThis.fetch(request);
    const copy = request.clone();
    const type = copy.headers.get('content-type');
    // A multipart body has a new boundary on each send: compare what it carries.
    let body: string;
    if (type?.startsWith('multipart/form-data')) {
      const entries: string[][] = [];
      for (const [key, value] of await copy.formData()) {
        entries.push([key, typeof value === 'string' ? value : `${value.name}:${await value.text()}`]);
      }
      body = JSON.stringify(entries);
    } else {
      body = await copy.text();
    }
    sent.push({ body, type, token: request.headers.get('authorization') });
    return globalThis.fetch(request);
  };
  return { sent, fetch: fetchFn };
}
