/**
 * The error family: codes, transience, causes, messages and serialisation of each class, and
 * `isTransientError`.
 */
import { describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  DiscoveryError,
  InvalidTokenResponseError,
  isTransientError,
  RefreshRejectedError,
  SessionExpiredError,
  SessionKeeperError,
  StoreError,
  TokenWaitTimeoutError,
  TransientRefreshError,
} from '../../src/errors.ts';

const cause = new Error('the store said no');

describe('SessionKeeperError', () => {
  it('carries its code and message, and is not transient unless told', () => {
    const error = new SessionKeeperError('ERR_CONFIG', 'bad');
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'SessionKeeperError', code: 'ERR_CONFIG', message: 'bad', transient: false });
  });

  it('is transient when told', () => {
    expect(new SessionKeeperError('ERR_STORE', 'x', { transient: true }).transient).toBe(true);
  });

  it('keeps a cause when given one, and has none otherwise', () => {
    expect(new SessionKeeperError('ERR_STORE', 'x', { cause }).cause).toBe(cause);
    expect('cause' in new SessionKeeperError('ERR_STORE', 'x')).toBe(false);
    expect('cause' in new SessionKeeperError('ERR_STORE', 'x', { transient: true })).toBe(false);
  });

  it('serialises to its name, code, message and transience, without the cause', () => {
    const error = new StoreError('save', cause);
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      name: 'StoreError',
      code: 'ERR_STORE',
      message: 'Token store failed to save',
      transient: false,
    });
  });
});

describe('the error classes', () => {
  it.each([
    [
      'ConfigurationError',
      new ConfigurationError('"clientId" must be a non-empty string'),
      'ERR_CONFIG',
      false,
      '"clientId" must be a non-empty string',
    ],
    [
      'InvalidTokenResponseError',
      new InvalidTokenResponseError('no "access_token"'),
      'ERR_INVALID_TOKEN_RESPONSE',
      false,
      'no "access_token"',
    ],
    ['TransientRefreshError', new TransientRefreshError('HTTP 503'), 'ERR_REFRESH_TRANSIENT', true, 'HTTP 503'],
    [
      'RefreshRejectedError',
      new RefreshRejectedError('invalid_grant', 400),
      'ERR_REFRESH_REJECTED',
      false,
      'Grant rejected: invalid_grant (HTTP 400)',
    ],
    [
      'SessionExpiredError',
      new SessionExpiredError(),
      'ERR_SESSION_EXPIRED',
      false,
      'The session has ended: signed out',
    ],
    [
      'TokenWaitTimeoutError',
      new TokenWaitTimeoutError(30_000),
      'ERR_TOKEN_WAIT_TIMEOUT',
      true,
      'No access token within 30000 ms',
    ],
    ['StoreError', new StoreError('clear', cause), 'ERR_STORE', false, 'Token store failed to clear'],
    ['DiscoveryError', new DiscoveryError('HTTP 404'), 'ERR_DISCOVERY', false, 'HTTP 404'],
  ] as const)('%s has its name, code, transience and message', (name, error, code, transient, message) => {
    expect(error).toBeInstanceOf(SessionKeeperError);
    expect(error).toMatchObject({ name, code, transient, message });
    expect(isTransientError(error)).toBe(transient);
  });

  it('InvalidTokenResponseError is transient when it comes from the token endpoint, with its cause', () => {
    expect(new InvalidTokenResponseError('garbled', { transient: true, cause })).toMatchObject({
      transient: true,
      cause,
    });
  });

  it('TransientRefreshError carries the status, the Retry-After and the cause', () => {
    expect(new TransientRefreshError('HTTP 429', { status: 429, retryAfterMs: 30_000, cause })).toMatchObject({
      status: 429,
      retryAfterMs: 30_000,
      cause,
      transient: true,
    });
  });

  it('TransientRefreshError without details has no status, Retry-After or cause', () => {
    const error = new TransientRefreshError('offline');
    expect([error.status, error.retryAfterMs, 'cause' in error]).toEqual([undefined, undefined, false]);
  });

  it('RefreshRejectedError carries the OAuth error and the status', () => {
    expect(new RefreshRejectedError('invalid_client', 401)).toMatchObject({
      oauthError: 'invalid_client',
      status: 401,
    });
  });

  it('SessionExpiredError takes a reason, which sets its message, and a cause', () => {
    expect(new SessionExpiredError('reauthFailed', { cause })).toMatchObject({
      reason: 'reauthFailed',
      message: 'The session has ended: re-authentication failed',
      cause,
    });
    expect(new SessionExpiredError('notSignedIn')).toMatchObject({ reason: 'notSignedIn', message: 'Not signed in' });
  });

  it('StoreError names the operation and keeps the store error as its cause', () => {
    expect(new StoreError('load', cause)).toMatchObject({ message: 'Token store failed to load', cause });
  });

  it('DiscoveryError is transient when told, with its cause', () => {
    expect(new DiscoveryError('unreachable', { transient: true, cause })).toMatchObject({ transient: true, cause });
  });
});

describe('isTransientError', () => {
  it.each([
    ['a plain Error marked transient', Object.assign(new Error('x'), { transient: true })],
    ['an object marked transient', { transient: true }],
    ['null', null],
    ['a string', 'ERR_REFRESH_TRANSIENT'],
  ])('is false for %s', (_, value) => {
    expect(isTransientError(value)).toBe(false);
  });
});

describe('SessionExpiredError: messages and the default reason', () => {
  it('says which end it was, and is signedOut when no reason is given', () => {
    expect(new SessionExpiredError('sessionReplaced').message).toBe('The session this request was made for has ended');
    expect(new SessionExpiredError('disposed').message).toBe('Session manager disposed');
    expect(new SessionExpiredError()).toMatchObject({
      reason: 'signedOut',
      message: 'The session has ended: signed out',
    });
  });
});
