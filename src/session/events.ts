import mitt, { type Emitter } from 'mitt';
import type { Logger } from '../ports/logger.ts';
import type { SessionEvents, SessionTokens, TokenChangeCause } from '../types.ts';

/** The session's typed events, with handlers that cannot break the session. */
export interface SessionEmitter {
  on<K extends keyof SessionEvents>(type: K, handler: (event: SessionEvents[K]) => void): () => void;
  off<K extends keyof SessionEvents>(type: K, handler: (event: SessionEvents[K]) => void): void;
  /**
   * Calls each handler in turn; one that throws is logged and does not stop the others, nor
   * the sign-out or refresh that emitted.
   */
  emit<K extends keyof SessionEvents>(type: K, event: SessionEvents[K]): void;
  /** Announces a token set now in use: `tokensChanged`, and the event its cause has of its own. */
  tokensChanged(tokens: SessionTokens, cause: TokenChangeCause): void;
  clear(): void;
}

export function createEmitter(logger: Logger): SessionEmitter {
  const events: Emitter<SessionEvents> = mitt<SessionEvents>();
  const emitter: SessionEmitter = {
    on(type, handler) {
      events.on(type, handler);
      return () => events.off(type, handler);
    },
    off: (type, handler) => events.off(type, handler),
    emit(type, event) {
      for (const handler of [...(events.all.get(type) ?? [])]) {
        try {
          (handler as (event: SessionEvents[typeof type]) => void)(event);
        } catch (error) {
          logger.error('an event handler threw', { event: type, error });
        }
      }
    },
    tokensChanged(tokens, cause) {
      const about = { accessTokenExpiresAt: tokens.accessTokenExpiresAt, sessionExpiresAt: tokens.sessionExpiresAt };
      emitter.emit('tokensChanged', { ...about, cause });
      if (cause === 'signIn') emitter.emit('signedIn', about);
      else if (cause === 'refresh') emitter.emit('refreshed', about);
      else if (cause === 'biometric' || cause === 'signInPrompt')
        emitter.emit('reauthenticated', { ...about, method: cause });
    },
    clear: () => events.all.clear(),
  };
  return emitter;
}
