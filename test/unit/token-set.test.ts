/**
 * The token set: validating a token response, and the stored session's round trip.
 * Pure functions, tested through their exports with instants on a fixed clock.
 */
import { describe, expect, it } from 'vitest';
import { InvalidTokenResponseError } from '../../src/errors.ts';
import { fromStoredSession, parseTokenResponse, toStoredSession } from '../../src/token-set.ts';
import type { SessionTokens, StoredSession } from '../../src/types.ts';
import { NOW, unsignedJwt } from './builders.ts';

const seconds = NOW / 1000;

/** A full token set from a first sign-in, to refresh from. */
const signedIn = (): SessionTokens =>
  parseTokenResponse(
    {
      access_token: unsignedJwt({ sub: 'alice', exp: seconds + 600 }),
      refresh_token: 'r1',
      expires_in: 600,
      refresh_token_expires_in: 86_400,
      session_expires_in: 604_800,
      scope: 'read',
    },
    NOW - 60_000,
  );

describe('parseTokenResponse: what it rejects', () => {
  it.each([
    ['null', null, 'Token response: not an object'],
    ['an array', [{ access_token: 'a' }], 'Token response: not an object'],
    ['a string', 'a', 'Token response: not an object'],
    ['a number', 42, 'Token response: not an object'],
    ['no access_token', { expires_in: 60 }, 'Token response: no "access_token"'],
    ['a null access_token', { access_token: null }, 'Token response: no "access_token"'],
    ['an empty access_token', { access_token: '' }, 'Token response: "access_token" must be a non-empty string'],
    ['a numeric access_token', { access_token: 7 }, 'Token response: "access_token" must be a non-empty string'],
    [
      'an empty refresh_token',
      { access_token: 'a', refresh_token: '' },
      'Token response: "refresh_token" must be a non-empty string',
    ],
    ['an empty scope', { access_token: 'a', scope: '' }, 'Token response: "scope" must be a non-empty string'],
    [
      'an empty token_type',
      { access_token: 'a', token_type: '' },
      'Token response: "token_type" must be a non-empty string',
    ],
    ['a MAC token_type', { access_token: 'a', token_type: 'MAC' }, 'Unsupported token_type "MAC"'],
    ['a DPoP token_type', { access_token: 'a', token_type: 'DPoP' }, 'Unsupported token_type "DPoP"'],
    [
      'an empty-string expires_in',
      { access_token: 'a', expires_in: '' },
      'Token response: "expires_in" must be seconds >= 0',
    ],
    [
      'a blank expires_in',
      { access_token: 'a', expires_in: '  ' },
      'Token response: "expires_in" must be seconds >= 0',
    ],
    [
      'a word for expires_in',
      { access_token: 'a', expires_in: 'soon' },
      'Token response: "expires_in" must be seconds >= 0',
    ],
    [
      'a negative expires_in',
      { access_token: 'a', expires_in: -1 },
      'Token response: "expires_in" must be seconds >= 0',
    ],
    [
      'a NaN expires_in',
      { access_token: 'a', expires_in: Number.NaN },
      'Token response: "expires_in" must be seconds >= 0',
    ],
    [
      'an infinite expires_in',
      { access_token: 'a', expires_in: Infinity },
      'Token response: "expires_in" must be seconds >= 0',
    ],
    [
      'a boolean expires_in',
      { access_token: 'a', expires_in: true },
      'Token response: "expires_in" must be seconds >= 0',
    ],
    [
      'a negative refresh_token_expires_in',
      { access_token: 'a', refresh_token_expires_in: -1 },
      'Token response: "refresh_token_expires_in" must be seconds >= 0',
    ],
    [
      'a word for refresh_expires_in',
      { access_token: 'a', refresh_expires_in: 'x' },
      'Token response: "refresh_expires_in" must be seconds >= 0',
    ],
    [
      'a word for session_expires_in',
      { access_token: 'a', session_expires_in: 'x' },
      'Token response: "session_expires_in" must be seconds >= 0',
    ],
  ])('rejects %s, saying why', (_, input, message) => {
    const call = () => parseTokenResponse(input, NOW);
    expect(call).toThrow(InvalidTokenResponseError);
    expect(call).toThrow(new InvalidTokenResponseError(message));
  });

  it('quotes at most 32 characters of an unsupported token_type', () => {
    expect(() => parseTokenResponse({ access_token: 'a', token_type: `${'x'.repeat(32)}EXTRA` }, NOW)).toThrow(
      new InvalidTokenResponseError(`Unsupported token_type "${'x'.repeat(32)}"`),
    );
  });
});

describe('parseTokenResponse: the token set it builds', () => {
  it('turns a full first sign-in into a token set whose instants are on our clock', () => {
    const access = unsignedJwt({ sub: 'alice', exp: seconds + 3600 });
    expect(
      parseTokenResponse(
        {
          access_token: access,
          token_type: 'Bearer',
          expires_in: 600,
          refresh_token: 'r1',
          refresh_token_expires_in: 86_400,
          session_expires_in: 604_800,
          scope: 'read write',
        },
        NOW,
      ),
    ).toEqual({
      accessToken: access,
      refreshToken: 'r1',
      tokenType: 'Bearer',
      accessTokenExpiresAt: NOW + 600_000,
      refreshTokenExpiresAt: NOW + 86_400_000,
      sessionExpiresAt: NOW + 604_800_000,
      sessionStartedAt: NOW,
      receivedAt: NOW,
      scope: 'read write',
      subject: 'alice',
    });
  });

  it('a minimal opaque answer has unknown expiries and no refresh token', () => {
    expect(parseTokenResponse({ access_token: 'opaque' }, NOW)).toEqual({
      accessToken: 'opaque',
      refreshToken: undefined,
      tokenType: 'Bearer',
      accessTokenExpiresAt: null,
      refreshTokenExpiresAt: undefined,
      sessionExpiresAt: undefined,
      sessionStartedAt: NOW,
      receivedAt: NOW,
      scope: undefined,
      subject: undefined,
    });
  });

  it.each(['bearer', 'BEARER', 'Bearer'])('accepts token_type %s in any case and stores it as Bearer', (tokenType) => {
    expect(parseTokenResponse({ access_token: 'a', token_type: tokenType }, NOW).tokenType).toBe('Bearer');
  });

  it('reads null optional fields as absent', () => {
    const tokens = parseTokenResponse(
      {
        access_token: 'a',
        token_type: null,
        expires_in: null,
        refresh_token: null,
        scope: null,
        session_expires_in: null,
      },
      NOW,
    );
    expect(tokens).toMatchObject({
      tokenType: 'Bearer',
      accessTokenExpiresAt: null,
      refreshToken: undefined,
      scope: undefined,
    });
    expect(tokens.sessionExpiresAt).toBeUndefined();
  });

  it('accepts lifetimes as numeric strings, surrounding spaces included', () => {
    const tokens = parseTokenResponse({ access_token: 'a', expires_in: ' 90 ', session_expires_in: '3600' }, NOW);
    expect(tokens.accessTokenExpiresAt).toBe(NOW + 90_000);
    expect(tokens.sessionExpiresAt).toBe(NOW + 3_600_000);
  });

  it('counts a fractional expires_in in milliseconds', () => {
    expect(parseTokenResponse({ access_token: 'a', expires_in: 1.5 }, NOW).accessTokenExpiresAt).toBe(NOW + 1500);
  });

  it('keeps refresh_token_expires_in', () => {
    expect(
      parseTokenResponse({ access_token: 'a', refresh_token: 'r', refresh_token_expires_in: 120 }, NOW)
        .refreshTokenExpiresAt,
    ).toBe(NOW + 120_000);
  });

  it('reads refresh_expires_in when refresh_token_expires_in is absent', () => {
    expect(
      parseTokenResponse({ access_token: 'a', refresh_token: 'r', refresh_expires_in: 30 }, NOW).refreshTokenExpiresAt,
    ).toBe(NOW + 30_000);
  });

  it('prefers refresh_token_expires_in over refresh_expires_in', () => {
    const tokens = parseTokenResponse(
      { access_token: 'a', refresh_token: 'r', refresh_token_expires_in: 10, refresh_expires_in: 20 },
      NOW,
    );
    expect(tokens.refreshTokenExpiresAt).toBe(NOW + 10_000);
  });

  it('a new refresh token with a lifetime of 0 has an unknown expiry', () => {
    expect(
      parseTokenResponse({ access_token: 'a', refresh_token: 'r', refresh_token_expires_in: 0 }, NOW)
        .refreshTokenExpiresAt,
    ).toBeUndefined();
  });
});

describe('parseTokenResponse: access token expiry', () => {
  it('takes expires_in over the JWT exp', () => {
    const access = unsignedJwt({ exp: seconds + 3600 });
    expect(parseTokenResponse({ access_token: access, expires_in: 60 }, NOW).accessTokenExpiresAt).toBe(NOW + 60_000);
  });

  it('falls back to the JWT exp when expires_in is 0', () => {
    const access = unsignedJwt({ exp: seconds + 120 });
    expect(parseTokenResponse({ access_token: access, expires_in: 0 }, NOW).accessTokenExpiresAt).toBe(NOW + 120_000);
  });

  it('an expires_in of 0 on an opaque token is an unknown expiry', () => {
    expect(parseTokenResponse({ access_token: 'opaque', expires_in: 0 }, NOW).accessTokenExpiresAt).toBeNull();
  });

  it('uses exp - iat as the lifetime, so a server clock hours ahead changes nothing', () => {
    const serverSeconds = seconds + 7200;
    const access = unsignedJwt({ iat: serverSeconds, exp: serverSeconds + 300 });
    expect(parseTokenResponse({ access_token: access }, NOW).accessTokenExpiresAt).toBe(NOW + 300_000);
  });

  it('uses exp alone when iat is not before it', () => {
    const access = unsignedJwt({ iat: seconds + 500, exp: seconds + 500 });
    expect(parseTokenResponse({ access_token: access }, NOW).accessTokenExpiresAt).toBe(NOW + 500_000);
  });

  it('uses exp alone when iat is not a number', () => {
    const access = unsignedJwt({ iat: String(seconds - 7200), exp: seconds + 60 });
    expect(parseTokenResponse({ access_token: access }, NOW).accessTokenExpiresAt).toBe(NOW + 60_000);
  });

  it('an exp that is not a number is an unknown expiry', () => {
    const access = unsignedJwt({ iat: seconds, exp: String(seconds + 60) });
    expect(parseTokenResponse({ access_token: access }, NOW).accessTokenExpiresAt).toBeNull();
  });

  it('an exp exactly now on our clock is an unknown expiry', () => {
    expect(parseTokenResponse({ access_token: unsignedJwt({ exp: seconds }) }, NOW).accessTokenExpiresAt).toBeNull();
  });

  it('an exp already past on our clock is an unknown expiry', () => {
    expect(
      parseTokenResponse({ access_token: unsignedJwt({ exp: seconds - 1 }) }, NOW).accessTokenExpiresAt,
    ).toBeNull();
  });

  it('reads a JWT access token that does not decode as opaque', () => {
    const tokens = parseTokenResponse({ access_token: 'eyJub3QiOiJqc29u.eyJub3Q.sig', expires_in: 60 }, NOW);
    expect(tokens).toMatchObject({ accessTokenExpiresAt: NOW + 60_000, subject: undefined });
  });
});

describe('parseTokenResponse: a refresh answer on top of the current set', () => {
  it('keeps the refresh token, its expiry, the session end, the start, the scope and the user when the server sends none', () => {
    const previous = signedIn();
    expect(parseTokenResponse({ access_token: 'opaque-2', expires_in: 600 }, NOW, previous)).toEqual({
      accessToken: 'opaque-2',
      refreshToken: 'r1',
      tokenType: 'Bearer',
      accessTokenExpiresAt: NOW + 600_000,
      refreshTokenExpiresAt: previous.refreshTokenExpiresAt,
      sessionExpiresAt: previous.sessionExpiresAt,
      sessionStartedAt: NOW - 60_000,
      receivedAt: NOW,
      scope: 'read',
      subject: 'alice',
    });
  });

  it('takes what the server sends over what was there', () => {
    const previous = signedIn();
    const access = unsignedJwt({ sub: 'alice-2' });
    expect(
      parseTokenResponse(
        {
          access_token: access,
          refresh_token: 'r2',
          refresh_token_expires_in: 60,
          session_expires_in: 90,
          scope: 'write',
        },
        NOW,
        previous,
      ),
    ).toMatchObject({
      refreshToken: 'r2',
      refreshTokenExpiresAt: NOW + 60_000,
      sessionExpiresAt: NOW + 90_000,
      sessionStartedAt: NOW - 60_000,
      scope: 'write',
      subject: 'alice-2',
    });
  });

  it('a rotated refresh token without a stated lifetime does not inherit the old one', () => {
    expect(
      parseTokenResponse({ access_token: 'a', refresh_token: 'r2' }, NOW, signedIn()).refreshTokenExpiresAt,
    ).toBeUndefined();
  });

  it('a kept refresh token keeps its expiry when the server states a lifetime of 0', () => {
    const previous = signedIn();
    expect(
      parseTokenResponse({ access_token: 'a', refresh_token_expires_in: 0 }, NOW, previous).refreshTokenExpiresAt,
    ).toBe(previous.refreshTokenExpiresAt);
  });

  it('a JWT whose sub is not a string keeps the known user', () => {
    expect(parseTokenResponse({ access_token: unsignedJwt({ sub: 42 }) }, NOW, signedIn()).subject).toBe('alice');
  });
});

/** A token set as the manager holds it, for the stored-session tests. */
const held: SessionTokens = {
  accessToken: 'access-1',
  refreshToken: 'refresh-1',
  tokenType: 'Bearer',
  accessTokenExpiresAt: NOW + 600_000,
  refreshTokenExpiresAt: NOW + 86_400_000,
  sessionExpiresAt: NOW + 604_800_000,
  sessionStartedAt: NOW - 60_000,
  receivedAt: NOW,
  scope: 'read',
  subject: 'alice',
};

describe('toStoredSession', () => {
  it('stores every field, the access token included, stamped with version 1 and its revision', () => {
    expect(toStoredSession(held, true, NOW + 5)).toEqual({
      version: 1,
      accessToken: 'access-1',
      refreshToken: 'refresh-1',
      tokenType: 'Bearer',
      accessTokenExpiresAt: NOW + 600_000,
      refreshTokenExpiresAt: NOW + 86_400_000,
      sessionExpiresAt: NOW + 604_800_000,
      sessionStartedAt: NOW - 60_000,
      receivedAt: NOW,
      scope: 'read',
      subject: 'alice',
      revision: NOW + 5,
    });
  });

  it('leaves the access token out when it lives in memory only', () => {
    expect(toStoredSession(held, false, NOW)).not.toHaveProperty('accessToken');
  });

  it('leaves out an access token this context never had', () => {
    expect(toStoredSession({ ...held, accessToken: '' }, true, NOW)).not.toHaveProperty('accessToken');
  });

  it('keeps the mark of a rejected refresh token', () => {
    expect(toStoredSession({ ...held, refreshRejectedAt: NOW - 1 }, false, NOW).refreshRejectedAt).toBe(NOW - 1);
  });

  it('writes no refreshRejectedAt field when there is no mark', () => {
    expect(Object.keys(toStoredSession({ ...held, refreshRejectedAt: undefined }, true, NOW))).not.toContain(
      'refreshRejectedAt',
    );
  });
});

/** A stored session this version wrote, with every field set. */
const stored = (): Record<string, unknown> => ({
  ...toStoredSession({ ...held, refreshRejectedAt: NOW - 1 }, true, NOW + 5),
});

describe('fromStoredSession: what it reads', () => {
  it('reads back everything toStoredSession wrote', () => {
    expect(fromStoredSession(stored())).toEqual({ ...held, refreshRejectedAt: NOW - 1, revision: NOW + 5 });
  });

  it('reads a session stored without its access token as one with nothing usable until a refresh', () => {
    const { accessToken: _, ...withoutAccess } = stored();
    expect(fromStoredSession(withoutAccess)).toMatchObject({
      accessToken: '',
      accessTokenExpiresAt: 0,
      refreshToken: 'refresh-1',
    });
  });

  it('reads a session with an access token and no refresh token', () => {
    const { refreshToken: _, ...accessOnly } = stored();
    expect(fromStoredSession(accessOnly)).toMatchObject({
      accessToken: 'access-1',
      refreshToken: undefined,
      accessTokenExpiresAt: NOW + 600_000,
    });
  });

  it('reads an unknown access token expiry as unknown', () => {
    expect(fromStoredSession({ ...stored(), accessTokenExpiresAt: null })?.accessTokenExpiresAt).toBeNull();
  });

  it('reads a session with only the required fields', () => {
    const minimal: StoredSession = {
      version: 1,
      refreshToken: 'refresh-1',
      tokenType: 'Bearer',
      accessTokenExpiresAt: null,
      sessionStartedAt: NOW,
      receivedAt: NOW,
    };
    expect(fromStoredSession(minimal)).toMatchObject({
      refreshToken: 'refresh-1',
      accessToken: '',
      accessTokenExpiresAt: 0,
    });
  });

  it('always reads the token type as Bearer', () => {
    expect(fromStoredSession({ ...stored(), tokenType: 'whatever' })?.tokenType).toBe('Bearer');
  });

  it('drops fields it does not know', () => {
    expect(fromStoredSession({ ...stored(), injected: 'x' })).not.toHaveProperty('injected');
  });
});

describe('fromStoredSession: what it refuses', () => {
  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a string', '{"version":1}'],
    ['a number', 1],
    ['the unreadable marker of a web store', { corrupt: true }],
    ['another version', { ...stored(), version: 2 }],
    ['a version as a string', { ...stored(), version: '1' }],
    ['neither token', { ...stored(), refreshToken: undefined, accessToken: undefined }],
    ['an empty refresh token', { ...stored(), refreshToken: '' }],
    ['a numeric refresh token', { ...stored(), refreshToken: 7 }],
    ['an empty access token', { ...stored(), accessToken: '' }],
    ['no access token expiry', { ...stored(), accessTokenExpiresAt: undefined }],
    ['a text access token expiry', { ...stored(), accessTokenExpiresAt: 'tomorrow' }],
    ['a NaN access token expiry', { ...stored(), accessTokenExpiresAt: Number.NaN }],
    ['an infinite refresh token expiry', { ...stored(), refreshTokenExpiresAt: Infinity }],
    ['a null refresh token expiry', { ...stored(), refreshTokenExpiresAt: null }],
    ['a text session end', { ...stored(), sessionExpiresAt: '1' }],
    ['no session start', { ...stored(), sessionStartedAt: undefined }],
    ['no receipt time', { ...stored(), receivedAt: undefined }],
    ['a numeric scope', { ...stored(), scope: 3 }],
    ['a text rejection mark', { ...stored(), refreshRejectedAt: 'yes' }],
    ['a numeric subject', { ...stored(), subject: 1 }],
    ['a text revision', { ...stored(), revision: 'now' }],
  ])('refuses %s', (_, value) => {
    expect(fromStoredSession(value)).toBeNull();
  });
});

describe('parseTokenResponse: edges of expiry and token type', () => {
  it('a JWT lifetime of exactly the leeway (1 s) is no usable expiry', () => {
    const access = unsignedJwt({ iat: seconds, exp: seconds + 1 });
    expect(parseTokenResponse({ access_token: access }, NOW).accessTokenExpiresAt).toBeNull();
  });

  it('with DPoP on, an unknown token_type is named as unsupported, not taken for Bearer', () => {
    expect(() => parseTokenResponse({ access_token: 'opaque', token_type: 'MAC' }, NOW, undefined, true)).toThrow(
      new InvalidTokenResponseError('Unsupported token_type "MAC"'),
    );
  });
});
