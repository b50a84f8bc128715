/** The session's events: typed handlers that cannot break the session, and what a token change announces. */
import { describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../src/ports/logger.ts';
import { createEmitter } from '../../src/session/events.ts';
import type { SessionEvents, SessionTokens, TokenChangeCause } from '../../src/types.ts';
import { NOW } from './builders.ts';

function setup() {
  const logger: Logger = { debug: vi.fn(), info: vi.fn(), warn: vi.fn(), error: vi.fn() };
  const emitter = createEmitter(logger);
  /** Every event emitted, in order (each type is listened to). */
  const heard: { type: keyof SessionEvents; event: unknown }[] = [];
  const listen = () => {
    for (const type of ['tokensChanged', 'signedIn', 'refreshed', 'reauthenticated'] as const)
      emitter.on(type, (event) => void heard.push({ type, event }));
  };
  return { logger, emitter, heard, listen };
}

const TOKENS = {
  accessToken: 'at-1',
  refreshToken: 'rt-1',
  tokenType: 'Bearer',
  accessTokenExpiresAt: NOW + 3_600_000,
  refreshTokenExpiresAt: undefined,
  sessionExpiresAt: NOW + 86_400_000,
  sessionStartedAt: NOW,
  receivedAt: NOW,
  scope: undefined,
} satisfies SessionTokens;
const ABOUT = { accessTokenExpiresAt: TOKENS.accessTokenExpiresAt, sessionExpiresAt: TOKENS.sessionExpiresAt };

describe('the session emitter', () => {
  it('calls a handler with the event until off() removes it', () => {
    const { emitter } = setup();
    const handler = vi.fn();
    emitter.on('signedOut', handler);
    emitter.emit('signedOut', { reason: 'user' });
    emitter.off('signedOut', handler);
    emitter.emit('signedOut', { reason: 'user' });
    expect(handler.mock.calls).toEqual([[{ reason: 'user' }]]);
  });

  it('calls a handler until the unsubscribe on() returned runs', () => {
    const { emitter } = setup();
    const handler = vi.fn();
    const off = emitter.on('signedOut', handler);
    emitter.emit('signedOut', { reason: 'user' });
    off();
    emitter.emit('signedOut', { reason: 'user' });
    expect(handler).toHaveBeenCalledOnce();
  });

  it('logs a handler that throws, with the event, and still calls the others', () => {
    const { emitter, logger } = setup();
    const failure = new Error('app bug');
    const after = vi.fn();
    emitter.on('signedOut', () => {
      throw failure;
    });
    emitter.on('signedOut', after);
    emitter.emit('signedOut', { reason: 'user' });
    expect(after).toHaveBeenCalledOnce();
    expect(logger.error).toHaveBeenCalledExactlyOnceWith('an event handler threw', {
      event: 'signedOut',
      error: failure,
    });
  });

  it('emits an event nobody listens to without a word', () => {
    const { emitter, logger } = setup();
    emitter.emit('signedOut', { reason: 'user' });
    expect(logger.error).not.toHaveBeenCalled();
  });

  it('clear() removes every handler', () => {
    const { emitter } = setup();
    const handler = vi.fn();
    emitter.on('signedOut', handler);
    emitter.on('stateChange', handler);
    emitter.clear();
    emitter.emit('signedOut', { reason: 'user' });
    emitter.emit('stateChange', { from: 'active', to: 'signedOut' });
    expect(handler).not.toHaveBeenCalled();
  });
});

describe('a token change', () => {
  it.each<[TokenChangeCause, keyof SessionEvents | undefined, object]>([
    ['signIn', 'signedIn', ABOUT],
    ['refresh', 'refreshed', ABOUT],
    ['biometric', 'reauthenticated', { ...ABOUT, method: 'biometric' }],
    ['signInPrompt', 'reauthenticated', { ...ABOUT, method: 'signInPrompt' }],
    ['restore', undefined, {}],
    ['otherContext', undefined, {}],
  ])('caused by %s announces tokensChanged, then %s', (cause, own, event) => {
    const { emitter, heard, listen } = setup();
    listen();
    emitter.tokensChanged(TOKENS, cause);
    expect(heard).toEqual([
      { type: 'tokensChanged', event: { ...ABOUT, cause } },
      ...(own ? [{ type: own, event }] : []),
    ]);
  });
});
