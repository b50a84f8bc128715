import type { KyInstance, Options as KyOptions } from 'ky';
import { createSessionClient, type SessionClientOptions } from './client/create-client.ts';
import { SessionManager as FetchSessionManager } from './session-manager.ts';

/**
 * Keeps a user signed in: holds the token set, refreshes it once for any number of concurrent
 * callers (across contexts too, through the lock port), retries transient failures, and when
 * the refresh token is dead runs the re-authentication chain before it ever signs out.
 *
 * The main entry's class: the session core plus {@link SessionManager.createClient}, its ky
 * client. An app that sends requests only with `session.fetch` imports the same class
 * without ky from `session-keeper/fetch`.
 *
 * @example
 * const session = new SessionManager({ tokenEndpoint, clientId: 'my-app', signInPrompt });
 * await session.restore();
 * const api = session.createClient({ prefix: 'https://api.example.com/v1' });
 * const me = await api.get('me').json();
 */
export class SessionManager extends FetchSessionManager {
  /**
   * A ky instance that authenticates its requests with this session. See
   * {@link createSessionClient}.
   * @example const api = session.createClient({ prefix: 'https://api.example.com/v1' });
   */
  createClient(options: KyOptions = {}, auth: SessionClientOptions = {}): KyInstance {
    return createSessionClient(this, options, auth);
  }
}
