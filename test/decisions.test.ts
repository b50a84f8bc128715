import { describe, expect, it } from 'vitest';
import {
  REAUTH_HANDOFF_MS,
  decideChangeDuringGrant,
  decideFollow,
  decideGrant,
  decideRestore,
  decideStart,
  decideTokenUse,
  decideUnderLock,
  isBusyWithStore,
  type LockedRead,
} from '../src/session/decisions.ts';
import { Ownership, ownerOf, startsSignIn } from '../src/session/ownership.ts';
import type { Phase } from '../src/session/state.ts';
import type { Loaded } from '../src/session/storage.ts';
import { EXPIRY_LEEWAY_MS, isRefreshDue, isUsable, refreshDueAt } from '../src/session/tokens.ts';
import type { TokenChangeCause } from '../src/types.ts';
import { NOW, record, tokens } from './helpers/records.ts';

const HOUR = 3_600_000;
const MARGIN = 300_000;
/** When the default one-hour token falls due with a five-minute margin. */
const DUE = NOW + HOUR - MARGIN;

const ok = (overrides: Parameters<typeof tokens>[0] = {}): Loaded => ({ kind: 'ok', tokens: tokens(overrides) });
const EMPTY: Loaded = { kind: 'empty' };
const GARBLED: Loaded = { kind: 'garbled' };

describe('token predicates', () => {
  it('the expiry leeway is one second', () => {
    expect(EXPIRY_LEEWAY_MS).toBe(1000);
  });

  it.each([
    { name: 'an hour left: usable', tokens: tokens(), rejected: undefined, usable: true },
    {
      name: 'exactly the leeway left: not usable',
      tokens: tokens({ accessTokenExpiresAt: NOW + 1000 }),
      rejected: undefined,
      usable: false,
    },
    {
      name: 'the leeway and 1 ms left: usable',
      tokens: tokens({ accessTokenExpiresAt: NOW + 1001 }),
      rejected: undefined,
      usable: true,
    },
    {
      name: 'unknown expiry: usable',
      tokens: tokens({ accessTokenExpiresAt: null }),
      rejected: undefined,
      usable: true,
    },
    {
      name: 'no access token: not usable',
      tokens: tokens({ accessToken: '', accessTokenExpiresAt: null }),
      rejected: undefined,
      usable: false,
    },
    { name: 'the rejected token: not usable', tokens: tokens(), rejected: 'at-1', usable: false },
    { name: 'another token rejected: usable', tokens: tokens(), rejected: 'at-0', usable: true },
  ])('$name', ({ tokens, rejected, usable }) => {
    expect(isUsable(tokens, NOW, rejected)).toBe(usable);
  });

  it.each([
    { name: 'an hour-long token is due the margin before expiry', tokens: tokens(), due: DUE },
    {
      name: 'a 60-second token is due halfway (the margin is longer than half its life)',
      tokens: tokens({ accessTokenExpiresAt: NOW + 60_000 }),
      due: NOW + 30_000,
    },
    {
      name: 'a token exactly twice the margin long is due halfway, which is the margin',
      tokens: tokens({ accessTokenExpiresAt: NOW + 2 * MARGIN }),
      due: NOW + MARGIN,
    },
    {
      name: 'a token received after its expiry (clock skew) is due at its expiry',
      tokens: tokens({ accessTokenExpiresAt: NOW - 10_000 }),
      due: NOW - 10_000,
    },
    { name: 'an unknown expiry is never due', tokens: tokens({ accessTokenExpiresAt: null }), due: null },
  ])('$name', ({ tokens, due }) => {
    expect(refreshDueAt(tokens, MARGIN)).toBe(due);
  });

  it.each([
    { name: '1 ms before the due instant: not due', now: DUE - 1, due: false },
    { name: 'at the due instant: due', now: DUE, due: true },
    { name: 'after the due instant: due', now: DUE + 1, due: true },
  ])('$name', ({ now, due }) => {
    expect(isRefreshDue(tokens(), now, MARGIN)).toBe(due);
  });

  it('a token of unknown expiry is never due', () => {
    expect(isRefreshDue(tokens({ accessTokenExpiresAt: null }), NOW + 100 * HOUR, MARGIN)).toBe(false);
  });
});

describe('decideTokenUse: serve, wait, refresh or refuse', () => {
  it.each([
    {
      name: 'disposed: refused as disposed',
      record: record({ phase: 'disposed', tokens: null }),
      now: NOW,
      use: { kind: 'refuse', reason: 'disposed' },
    },
    {
      name: 'disposed with tokens left in the record: still refused as disposed',
      record: record({ phase: 'disposed' }),
      now: NOW,
      use: { kind: 'refuse', reason: 'disposed' },
    },
    {
      name: 'signed out: refused, not signed in',
      record: record({ phase: 'signedOut', tokens: null }),
      now: NOW,
      use: { kind: 'refuse', reason: 'notSignedIn' },
    },
    {
      name: 'signing out, tokens still in the record: refused',
      record: record({ phase: 'signingOut' }),
      now: NOW,
      use: { kind: 'refuse', reason: 'notSignedIn' },
    },
    {
      name: 'signing in without a previous session: refused, not signed in',
      record: record({ phase: 'signingIn', tokens: null }),
      now: NOW,
      use: { kind: 'refuse', reason: 'notSignedIn' },
    },
    {
      name: 'active without tokens: refused, not signed in',
      record: record({ tokens: null }),
      now: NOW,
      use: { kind: 'refuse', reason: 'notSignedIn' },
    },
    { name: 'active, good token, not due: served', record: record(), now: NOW, use: { kind: 'serve', token: 'at-1' } },
    {
      name: 'active, 1 ms before the refresh is due: served',
      record: record(),
      now: DUE - 1,
      use: { kind: 'serve', token: 'at-1' },
    },
    {
      name: 'active, exactly at the due instant (a late timer): refresh',
      record: record(),
      now: DUE,
      use: { kind: 'refresh' },
    },
    {
      name: 'active, the token expired: refresh',
      record: record(),
      now: NOW + HOUR,
      use: { kind: 'refresh' },
    },
    {
      name: 'active, the token was rejected (not yet due): refresh',
      record: record({ rejectedAccessToken: 'at-1' }),
      now: NOW,
      use: { kind: 'refresh' },
    },
    {
      name: 'active, unknown expiry: served (never due)',
      record: record({ tokens: tokens({ accessTokenExpiresAt: null }) }),
      now: NOW + 100 * HOUR,
      use: { kind: 'serve', token: 'at-1' },
    },
    {
      name: 'signing in over a good token that is due: served (the sign-in replaces it)',
      record: record({ phase: 'signingIn' }),
      now: DUE,
      use: { kind: 'serve', token: 'at-1' },
    },
    {
      name: 'signing in over an expired token: wait',
      record: record({ phase: 'signingIn' }),
      now: NOW + HOUR,
      use: { kind: 'wait' },
    },
    {
      name: 'refreshing, no failure yet: wait',
      record: record({ phase: 'refreshing' }),
      now: NOW,
      use: { kind: 'wait' },
    },
    {
      name: 'refreshing after a failure, good token: served',
      record: record({ phase: 'refreshing', failures: 1 }),
      now: DUE,
      use: { kind: 'serve', token: 'at-1' },
    },
    {
      name: 'refreshing after a failure, token expired: wait',
      record: record({ phase: 'refreshing', failures: 1 }),
      now: NOW + HOUR,
      use: { kind: 'wait' },
    },
    {
      name: 'reauthenticating: wait',
      record: record({ phase: 'reauthenticating', failures: 3 }),
      now: NOW,
      use: { kind: 'wait' },
    },
  ] as const)('$name', ({ record, now, use }) => {
    expect(decideTokenUse(record, now, MARGIN)).toEqual(use);
  });
});

describe('decideUnderLock: the store read under the lock', () => {
  const current = tokens({ accessToken: 'at-1', refreshToken: 'rt-1' });
  const base: LockedRead = {
    stored: ok(),
    current,
    storedIsRetired: false,
    storedIsStale: false,
    waited: false,
    reread: false,
    holdsOurs: true,
    now: NOW,
    rejectedAccessToken: undefined,
  };
  const newer = tokens({ accessToken: 'at-2', refreshToken: 'rt-2', receivedAt: NOW });
  const newerExpired = tokens({ accessToken: 'at-2', refreshToken: 'rt-2', accessTokenExpiresAt: NOW + 1000 });
  const retired = tokens({ accessToken: 'at-0', refreshToken: 'rt-0' });

  it.each<{ name: string; read: Partial<LockedRead>; decision: unknown }>([
    // The same refresh token as ours.
    {
      name: 'the store holds our set: refresh from it, not catching up',
      read: {},
      decision: { kind: 'refresh', base: { ...current, refreshRejectedAt: undefined }, catchUp: false },
    },
    {
      name: 'our set, found dead by another context meanwhile: refresh with its rejection mark',
      read: { stored: ok({ refreshRejectedAt: NOW - 5 }) },
      decision: { kind: 'refresh', base: { ...current, refreshRejectedAt: NOW - 5 }, catchUp: false },
    },
    {
      name: 'our set, no longer marked dead in the store: the mark in memory is dropped',
      read: { current: tokens({ refreshRejectedAt: NOW - 5 }) },
      decision: { kind: 'refresh', base: { ...current, refreshRejectedAt: undefined }, catchUp: false },
    },
    {
      name: 'our set with a newer access token (a non-rotating refresh elsewhere): still ours, refresh',
      read: { stored: ok({ accessToken: 'at-9' }) },
      decision: { kind: 'refresh', base: { ...current, refreshRejectedAt: undefined }, catchUp: false },
    },
    {
      name: 'stale, not read again: wait for the store',
      read: { storedIsStale: true },
      decision: { kind: 'waitForStore' },
    },
    {
      name: 'stale, with a usable newer set: still wait (a newer write is on the way)',
      read: { storedIsStale: true, stored: { kind: 'ok', tokens: newer } },
      decision: { kind: 'waitForStore' },
    },
    {
      name: 'stale, already read again: go on (refresh our set)',
      read: { storedIsStale: true, reread: true },
      decision: { kind: 'refresh', base: { ...current, refreshRejectedAt: undefined }, catchUp: false },
    },
    {
      name: 'waited, the store still holds our set: wait for the other context write',
      read: { waited: true },
      decision: { kind: 'waitForStore' },
    },
    {
      name: 'waited and read again, still our set: refresh',
      read: { waited: true, reread: true },
      decision: { kind: 'refresh', base: { ...current, refreshRejectedAt: undefined }, catchUp: false },
    },
    // Another context's newer set.
    {
      name: 'a newer usable set: adopt it',
      read: { stored: { kind: 'ok', tokens: newer } },
      decision: { kind: 'adopt', tokens: newer },
    },
    {
      name: 'waited, a newer usable set: adopt it at once',
      read: { waited: true, stored: { kind: 'ok', tokens: newer } },
      decision: { kind: 'adopt', tokens: newer },
    },
    {
      name: 'a newer set whose token expires within the leeway: refresh from it',
      read: { stored: { kind: 'ok', tokens: newerExpired } },
      decision: { kind: 'refresh', base: newerExpired, catchUp: false },
    },
    {
      name: 'a newer set 1 ms beyond the leeway: adopt it',
      read: { stored: ok({ accessToken: 'at-2', refreshToken: 'rt-2', accessTokenExpiresAt: NOW + 1001 }) },
      decision: {
        kind: 'adopt',
        tokens: tokens({ accessToken: 'at-2', refreshToken: 'rt-2', accessTokenExpiresAt: NOW + 1001 }),
      },
    },
    {
      name: 'a newer set whose access token the server rejected: refresh from it',
      read: { stored: { kind: 'ok', tokens: newer }, rejectedAccessToken: 'at-2' },
      decision: { kind: 'refresh', base: newer, catchUp: false },
    },
    {
      name: 'waited, a newer set that is not usable: wait (its refresh may still land)',
      read: { waited: true, stored: { kind: 'ok', tokens: newerExpired } },
      decision: { kind: 'waitForStore' },
    },
    {
      name: 'waited and read again, a newer set that is not usable: refresh from it',
      read: { waited: true, reread: true, stored: { kind: 'ok', tokens: newerExpired } },
      decision: { kind: 'refresh', base: newerExpired, catchUp: false },
    },
    // A set we moved on from (saving a rotation failed).
    {
      name: 'a retired set, even a usable one: refresh from memory, catching the store up',
      read: { stored: { kind: 'ok', tokens: retired }, storedIsRetired: true },
      decision: { kind: 'refresh', base: current, catchUp: true },
    },
    {
      name: 'waited, a retired set: wait for the store',
      read: { stored: { kind: 'ok', tokens: retired }, storedIsRetired: true, waited: true },
      decision: { kind: 'waitForStore' },
    },
    {
      name: 'waited and read again, a retired set: catch up',
      read: { stored: { kind: 'ok', tokens: retired }, storedIsRetired: true, waited: true, reread: true },
      decision: { kind: 'refresh', base: current, catchUp: true },
    },
    // Nothing readable.
    {
      name: 'empty where our session was: signed out elsewhere',
      read: { stored: EMPTY },
      decision: { kind: 'signedOutElsewhere' },
    },
    {
      name: 'garbled where our session was: signed out elsewhere',
      read: { stored: GARBLED },
      decision: { kind: 'signedOutElsewhere' },
    },
    {
      name: 'empty, the store never held ours (it failed to save): refresh from memory',
      read: { stored: EMPTY, holdsOurs: false },
      decision: { kind: 'refresh', base: current, catchUp: false },
    },
    {
      name: 'garbled, the store never held ours: refresh from memory',
      read: { stored: GARBLED, holdsOurs: false },
      decision: { kind: 'refresh', base: current, catchUp: false },
    },
    {
      name: 'waited, empty: no wait (nothing is on the way), signed out elsewhere',
      read: { stored: EMPTY, waited: true },
      decision: { kind: 'signedOutElsewhere' },
    },
    {
      name: 'stale, empty: wait for the store',
      read: { stored: EMPTY, storedIsStale: true },
      decision: { kind: 'waitForStore' },
    },
  ])('$name', ({ read, decision }) => {
    expect(decideUnderLock({ ...base, ...read })).toEqual(decision);
  });
});

describe('decideGrant: refresh, or why not', () => {
  it('the hand-off to a context re-authenticating lasts two minutes', () => {
    expect(REAUTH_HANDOFF_MS).toBe(120_000);
  });

  it.each([
    {
      name: 'a live refresh token: grant',
      base: tokens(),
      now: NOW,
      decision: { kind: 'grant', refreshToken: 'rt-1' },
    },
    {
      name: 'found dead just now: wait for the context re-authenticating',
      base: tokens({ refreshRejectedAt: NOW }),
      now: NOW,
      decision: { kind: 'reauthElsewhere' },
    },
    {
      name: 'found dead 1 ms less than the hand-off ago: still wait',
      base: tokens({ refreshRejectedAt: NOW }),
      now: NOW + REAUTH_HANDOFF_MS - 1,
      decision: { kind: 'reauthElsewhere' },
    },
    {
      name: 'found dead exactly the hand-off ago: re-authenticate here',
      base: tokens({ refreshRejectedAt: NOW }),
      now: NOW + REAUTH_HANDOFF_MS,
      decision: { kind: 'reauth', reason: 'refreshRejected' },
    },
    {
      name: 'found dead at instant 0: dead all the same',
      base: tokens({ refreshRejectedAt: 0 }),
      now: NOW,
      decision: { kind: 'reauth', reason: 'refreshRejected' },
    },
    {
      name: 'found dead, and without a refresh token: the rejection decides',
      base: tokens({ refreshRejectedAt: NOW, refreshToken: undefined }),
      now: NOW,
      decision: { kind: 'reauthElsewhere' },
    },
    {
      name: 'no refresh token: re-authenticate',
      base: tokens({ refreshToken: undefined }),
      now: NOW,
      decision: { kind: 'reauth', reason: 'noRefreshToken' },
    },
    {
      name: 'no refresh token and the session over: no refresh token is the reason',
      base: tokens({ refreshToken: undefined, sessionExpiresAt: NOW }),
      now: NOW,
      decision: { kind: 'reauth', reason: 'noRefreshToken' },
    },
    {
      name: '1 ms before the session end: grant',
      base: tokens({ sessionExpiresAt: NOW + 1 }),
      now: NOW,
      decision: { kind: 'grant', refreshToken: 'rt-1' },
    },
    {
      name: 'at the session end exactly: re-authenticate, the session ended',
      base: tokens({ sessionExpiresAt: NOW }),
      now: NOW,
      decision: { kind: 'reauth', reason: 'sessionEnded' },
    },
    {
      name: '1 ms before the refresh token expires: grant',
      base: tokens({ refreshTokenExpiresAt: NOW + 1 }),
      now: NOW,
      decision: { kind: 'grant', refreshToken: 'rt-1' },
    },
    {
      name: 'when the refresh token expires exactly: re-authenticate, it expired',
      base: tokens({ refreshTokenExpiresAt: NOW }),
      now: NOW,
      decision: { kind: 'reauth', reason: 'refreshTokenExpired' },
    },
    {
      name: 'both the session and the refresh token over: the session end is the reason',
      base: tokens({ refreshTokenExpiresAt: NOW - 1, sessionExpiresAt: NOW - 1 }),
      now: NOW,
      decision: { kind: 'reauth', reason: 'sessionEnded' },
    },
  ] as const)('$name', ({ base, now, decision }) => {
    expect(decideGrant(base, now)).toEqual(decision);
  });
});

describe('decideChangeDuringGrant: what was saved while the grant was in flight', () => {
  const base = tokens();
  const other = tokens({ accessToken: 'at-2', refreshToken: 'rt-2' });
  it.each<{ name: string; after: Loaded | undefined; retired?: boolean; rejected?: string; decision: unknown }>([
    { name: 'the store could not be read: keep the answer', after: undefined, decision: { kind: 'none' } },
    { name: 'the store was cleared: signed out elsewhere', after: EMPTY, decision: { kind: 'signedOutElsewhere' } },
    { name: 'the store is garbled: keep the answer', after: GARBLED, decision: { kind: 'none' } },
    { name: 'the set the grant was made from: keep the answer', after: ok(), decision: { kind: 'none' } },
    {
      name: 'the same refresh token, another access token: keep the answer',
      after: ok({ accessToken: 'at-9' }),
      decision: { kind: 'none' },
    },
    {
      name: 'a set we moved on from: keep the answer',
      after: { kind: 'ok', tokens: other },
      retired: true,
      decision: { kind: 'none' },
    },
    {
      name: 'another usable set: adopt it',
      after: { kind: 'ok', tokens: other },
      decision: { kind: 'adopt', tokens: other },
    },
    {
      name: 'another set, its token within the leeway: conflict',
      after: ok({ accessToken: 'at-2', refreshToken: 'rt-2', accessTokenExpiresAt: NOW + 1000 }),
      decision: { kind: 'conflict' },
    },
    {
      name: 'another set whose access token was rejected: conflict',
      after: { kind: 'ok', tokens: other },
      rejected: 'at-2',
      decision: { kind: 'conflict' },
    },
    {
      name: 'another set without an access token (not persisted): conflict',
      after: ok({ accessToken: '', refreshToken: 'rt-2' }),
      decision: { kind: 'conflict' },
    },
  ])('$name', ({ after, retired = false, rejected, decision }) => {
    expect(decideChangeDuringGrant(after, base, retired, NOW, rejected)).toEqual(decision);
  });
});

describe('decideFollow: a store change made by another context', () => {
  const newer: Loaded = ok({ accessToken: 'at-2', refreshToken: 'rt-2' });
  it.each<{
    name: string;
    phase?: Phase;
    withTokens?: boolean;
    loaded: Loaded;
    retired?: boolean;
    holdsOurs?: boolean;
    decision: string;
  }>([
    { name: 'active, a newer usable set: adopt', loaded: newer, decision: 'adopt' },
    {
      name: 'reauthenticating, a newer usable set: adopt',
      phase: 'reauthenticating',
      loaded: newer,
      decision: 'adopt',
    },
    {
      name: 'signed out, a usable set (a sign-in elsewhere): adopt',
      phase: 'signedOut',
      withTokens: false,
      loaded: newer,
      decision: 'adopt',
    },
    {
      name: 'signed out, a set without a refresh token (access token only): adopt',
      phase: 'signedOut',
      withTokens: false,
      loaded: ok({ refreshToken: undefined }),
      decision: 'adopt',
    },
    { name: 'active, the same set: ignore', loaded: ok(), decision: 'ignore' },
    {
      name: 'active, the same refresh token with a new access token: adopt',
      loaded: ok({ accessToken: 'at-2' }),
      decision: 'adopt',
    },
    {
      name: 'active, the same access token with a new refresh token: adopt',
      loaded: ok({ refreshToken: 'rt-2' }),
      decision: 'adopt',
    },
    {
      name: 'active, a newer set already expired: ignore',
      loaded: ok({ accessToken: 'at-2', refreshToken: 'rt-2', accessTokenExpiresAt: NOW + 1000 }),
      decision: 'ignore',
    },
    { name: 'active, a set we moved on from: ignore', loaded: newer, retired: true, decision: 'ignore' },
    { name: 'active, store emptied where ours was: sign out', loaded: EMPTY, decision: 'signOut' },
    { name: 'active, store garbled where ours was: sign out', loaded: GARBLED, decision: 'signOut' },
    {
      name: 'reauthenticating, store emptied: sign out',
      phase: 'reauthenticating',
      loaded: EMPTY,
      decision: 'signOut',
    },
    { name: 'active, emptied but it never held ours: ignore', loaded: EMPTY, holdsOurs: false, decision: 'ignore' },
    { name: 'signed out, emptied: ignore', phase: 'signedOut', withTokens: false, loaded: EMPTY, decision: 'ignore' },
    // This context writes the store itself in these phases.
    { name: 'refreshing, a newer set: ignore', phase: 'refreshing', loaded: newer, decision: 'ignore' },
    { name: 'refreshing, emptied: ignore', phase: 'refreshing', loaded: EMPTY, decision: 'ignore' },
    { name: 'signing in, a newer set: ignore', phase: 'signingIn', loaded: newer, decision: 'ignore' },
    { name: 'signing in, emptied: ignore', phase: 'signingIn', loaded: EMPTY, decision: 'ignore' },
    {
      name: 'signing out, a newer set: ignore',
      phase: 'signingOut',
      withTokens: false,
      loaded: newer,
      decision: 'ignore',
    },
    { name: 'disposed, a newer set: ignore', phase: 'disposed', withTokens: false, loaded: newer, decision: 'ignore' },
  ])('$name', ({ phase = 'active', withTokens = true, loaded, retired = false, holdsOurs = true, decision }) => {
    const current = record({ phase, tokens: withTokens ? tokens() : null });
    expect(decideFollow(current, loaded, retired, holdsOurs, NOW)).toBe(decision);
  });

  it.each<[Phase, boolean]>([
    ['signedOut', false],
    ['signingIn', true],
    ['active', false],
    ['refreshing', true],
    ['reauthenticating', false],
    ['signingOut', true],
    ['disposed', true],
  ])('%s: this context is busy with the store: %s', (phase, busy) => {
    expect(isBusyWithStore(record({ phase }))).toBe(busy);
  });
});

describe('decideRestore: restore() on a manager that runs a session', () => {
  it.each<{
    name: string;
    phase: Phase;
    withTokens: boolean;
    stored: ReturnType<typeof tokens>;
    retired: boolean;
    decision: string;
  }>([
    {
      name: 'nothing running: start',
      phase: 'signedOut',
      withTokens: false,
      stored: tokens(),
      retired: false,
      decision: 'start',
    },
    {
      name: 'nothing running, the stored set is one we retired: start (memory has nothing better)',
      phase: 'signedOut',
      withTokens: false,
      stored: tokens(),
      retired: true,
      decision: 'start',
    },
    {
      name: 'running this very session: join',
      phase: 'active',
      withTokens: true,
      stored: tokens(),
      retired: false,
      decision: 'join',
    },
    {
      name: 'refreshing this very session: join',
      phase: 'refreshing',
      withTokens: true,
      stored: tokens({ accessToken: '' }),
      retired: false,
      decision: 'join',
    },
    {
      name: 'running, the store holds a set we moved on from: catch the store up',
      phase: 'active',
      withTokens: true,
      stored: tokens({ refreshToken: 'rt-0' }),
      retired: true,
      decision: 'catchUpStore',
    },
    {
      name: 'running, the store holds another session: start it',
      phase: 'active',
      withTokens: true,
      stored: tokens({ refreshToken: 'rt-2' }),
      retired: false,
      decision: 'start',
    },
    {
      name: 'signed out with the same refresh token left in the record: start',
      phase: 'signedOut',
      withTokens: true,
      stored: tokens(),
      retired: false,
      decision: 'start',
    },
    {
      name: 'first sign-in in flight, a stored session: start',
      phase: 'signingIn',
      withTokens: false,
      stored: tokens(),
      retired: false,
      decision: 'start',
    },
  ])('$name', ({ phase, withTokens, stored, retired, decision }) => {
    expect(decideRestore(record({ phase, tokens: withTokens ? tokens() : null }), stored, retired)).toBe(decision);
  });
});

describe('decideStart: how a restored session starts', () => {
  it.each([
    { name: 'a usable token: use it', stored: tokens(), reauthElsewhere: false, decision: 'use' },
    {
      name: 'a token within the leeway: refresh',
      stored: tokens({ accessTokenExpiresAt: NOW + 1000 }),
      reauthElsewhere: false,
      decision: 'refresh',
    },
    {
      name: 'no stored access token: refresh',
      stored: tokens({ accessToken: '', accessTokenExpiresAt: 0 }),
      reauthElsewhere: false,
      decision: 'refresh',
    },
    {
      name: 'a usable token, a live context re-authenticating (no mark): use it',
      stored: tokens(),
      reauthElsewhere: true,
      decision: 'use',
    },
    {
      name: 'found dead, nobody re-authenticating (a relaunch): re-authenticate at once',
      stored: tokens({ refreshRejectedAt: NOW - 1 }),
      reauthElsewhere: false,
      decision: 'reauthenticate',
    },
    {
      name: 'found dead at instant 0: dead all the same',
      stored: tokens({ refreshRejectedAt: 0 }),
      reauthElsewhere: false,
      decision: 'reauthenticate',
    },
    {
      name: 'found dead, another context re-authenticating: wait for it like a refresh',
      stored: tokens({ refreshRejectedAt: NOW - 1 }),
      reauthElsewhere: true,
      decision: 'refresh',
    },
  ] as const)('$name', ({ stored, reauthElsewhere, decision }) => {
    expect(decideStart(stored, NOW, reauthElsewhere)).toBe(decision);
  });
});

describe('ownership: whose session a token belongs to', () => {
  it.each([
    { name: 'a JWT names its user', subject: 'alice', signIns: 3, owner: 'sub:alice' },
    { name: 'an opaque token is the sign-in it came with', subject: undefined, signIns: 3, owner: '#3' },
  ])('$name', ({ subject, signIns, owner }) => {
    expect(ownerOf(tokens({ subject }), signIns)).toBe(owner);
  });

  const causes: TokenChangeCause[] = ['signIn', 'restore', 'refresh', 'biometric', 'signInPrompt', 'otherContext'];
  it.each(causes.flatMap((cause) => [true, false].map((hadSession) => ({ cause, hadSession }))))(
    '$cause with a session before ($hadSession) starts a sign-in only when it is one or nothing ran',
    ({ cause, hadSession }) => {
      expect(startsSignIn(cause, hadSession)).toBe(!hadSession || cause === 'signIn');
    },
  );

  it('before any session every token passes', () => {
    expect(new Ownership().isCurrent('at-1')).toBe(true);
    expect(new Ownership().current).toBeUndefined();
  });

  it('a refresh continues the opaque session of the sign-in', () => {
    const owners = new Ownership();
    owners.record(tokens({ accessToken: 'a1' }), 'signIn', false);
    owners.record(tokens({ accessToken: 'a2' }), 'refresh', true);
    expect(owners.current).toBe('#1');
    expect(owners.isCurrent('a1')).toBe(true);
    expect(owners.isCurrent('a2')).toBe(true);
  });

  it('a second opaque sign-in is another owner: the first one tokens no longer pass', () => {
    const owners = new Ownership();
    owners.record(tokens({ accessToken: 'a1' }), 'signIn', false);
    owners.record(tokens({ accessToken: 'b1' }), 'signIn', true);
    expect(owners.current).toBe('#2');
    expect(owners.isCurrent('a1')).toBe(false);
    expect(owners.isCurrent('b1')).toBe(true);
    expect(owners.isCurrent('never-seen')).toBe(true);
  });

  it('an adoption after the session ended starts a new owner', () => {
    const owners = new Ownership();
    owners.record(tokens({ accessToken: 'a1' }), 'signIn', false);
    owners.record(tokens({ accessToken: 'b1' }), 'otherContext', false);
    expect(owners.isCurrent('a1')).toBe(false);
  });

  it.each([
    { name: 'the same user signing in again keeps their tokens current', second: 'alice', passes: true },
    { name: 'another user signing in makes the first user tokens stale', second: 'bob', passes: false },
  ])('$name', ({ second, passes }) => {
    const owners = new Ownership();
    owners.record(tokens({ accessToken: 'a1', subject: 'alice' }), 'signIn', false);
    owners.record(tokens({ accessToken: 'b1', subject: second }), 'signIn', true);
    expect(owners.isCurrent('a1')).toBe(passes);
  });

  it('a set without an access token is not remembered under the empty token', () => {
    const owners = new Ownership();
    owners.record(tokens({ accessToken: '' }), 'restore', false);
    owners.record(tokens({ accessToken: 'b1' }), 'signIn', true);
    expect(owners.current).toBe('#2');
    expect(owners.isCurrent('')).toBe(true);
  });

  it.each([
    { name: 'with 15 newer tokens on record the first is still remembered', newer: 15, passes: false },
    { name: 'with 16 newer tokens on record the first is forgotten', newer: 16, passes: true },
  ])('$name', ({ newer, passes }) => {
    const owners = new Ownership();
    owners.record(tokens({ accessToken: 'a1' }), 'signIn', false);
    owners.record(tokens({ accessToken: 'b0' }), 'signIn', true);
    for (let i = 1; i < newer; i++) owners.record(tokens({ accessToken: `b${i}` }), 'refresh', true);
    expect(owners.isCurrent('a1')).toBe(passes);
    expect(owners.isCurrent('b0')).toBe(true);
  });
});
