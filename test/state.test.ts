import { describe, expect, it } from 'vitest';
import {
  INITIAL,
  TRANSITIONS,
  isEnded,
  isGateOpen,
  publicState,
  reduce,
  servableToken,
  type ActionType,
  type Phase,
  type SessionAction,
  type SessionRecord,
} from '../src/session/state.ts';
import type { SessionState } from '../src/types.ts';
import { NOW, record, tokens } from './helpers/records.ts';

const PHASES: Phase[] = [
  'signedOut',
  'signingIn',
  'active',
  'refreshing',
  'reauthenticating',
  'signingOut',
  'disposed',
];

const NEW_TOKENS = tokens({ accessToken: 'at-2', refreshToken: 'rt-2' });

/** One instance of each action, with its payload. */
const ACTIONS: Record<ActionType, SessionAction> = {
  signInStarted: { type: 'signInStarted' },
  tokensApplied: { type: 'tokensApplied', tokens: NEW_TOKENS, cause: 'refresh' },
  tokensLoaded: { type: 'tokensLoaded', tokens: NEW_TOKENS },
  refreshStarted: { type: 'refreshStarted' },
  accessTokenRejected: { type: 'accessTokenRejected', accessToken: 'at-1' },
  refreshFailed: { type: 'refreshFailed' },
  reauthStarted: { type: 'reauthStarted', by: 'own' },
  signOutStarted: { type: 'signOutStarted', reason: 'user' },
  signOutFinished: { type: 'signOutFinished' },
  disposed: { type: 'disposed' },
};

/**
 * The transition table written out on its own (not read from TRANSITIONS): the phase each
 * action leads to, `-` where the phase ignores it.
 */
const EXPECTED: Record<Phase, Record<ActionType, Phase | '-'>> = {
  signedOut: {
    signInStarted: 'signingIn',
    tokensApplied: 'active',
    tokensLoaded: 'refreshing',
    refreshStarted: '-',
    accessTokenRejected: '-',
    refreshFailed: '-',
    reauthStarted: '-',
    signOutStarted: 'signingOut',
    signOutFinished: '-',
    disposed: 'disposed',
  },
  signingIn: {
    signInStarted: 'signingIn',
    tokensApplied: 'active',
    tokensLoaded: 'refreshing',
    refreshStarted: '-',
    accessTokenRejected: 'signingIn',
    refreshFailed: '-',
    reauthStarted: '-',
    signOutStarted: 'signingOut',
    signOutFinished: '-',
    disposed: 'disposed',
  },
  active: {
    signInStarted: 'signingIn',
    tokensApplied: 'active',
    tokensLoaded: 'refreshing',
    refreshStarted: 'refreshing',
    accessTokenRejected: 'active',
    refreshFailed: '-',
    reauthStarted: 'reauthenticating',
    signOutStarted: 'signingOut',
    signOutFinished: '-',
    disposed: 'disposed',
  },
  refreshing: {
    signInStarted: 'signingIn',
    tokensApplied: 'active',
    tokensLoaded: 'refreshing',
    refreshStarted: '-',
    accessTokenRejected: 'refreshing',
    refreshFailed: 'refreshing',
    reauthStarted: 'reauthenticating',
    signOutStarted: 'signingOut',
    signOutFinished: '-',
    disposed: 'disposed',
  },
  reauthenticating: {
    signInStarted: 'signingIn',
    tokensApplied: 'active',
    tokensLoaded: 'refreshing',
    refreshStarted: '-',
    accessTokenRejected: '-',
    refreshFailed: '-',
    reauthStarted: 'reauthenticating',
    signOutStarted: 'signingOut',
    signOutFinished: '-',
    disposed: 'disposed',
  },
  signingOut: {
    signInStarted: 'signingIn',
    tokensApplied: 'active',
    tokensLoaded: 'refreshing',
    refreshStarted: '-',
    accessTokenRejected: '-',
    refreshFailed: '-',
    reauthStarted: '-',
    signOutStarted: 'signingOut',
    signOutFinished: 'signedOut',
    disposed: 'disposed',
  },
  disposed: {
    signInStarted: '-',
    tokensApplied: '-',
    tokensLoaded: '-',
    refreshStarted: '-',
    accessTokenRejected: '-',
    refreshFailed: '-',
    reauthStarted: '-',
    signOutStarted: '-',
    signOutFinished: '-',
    disposed: '-',
  },
};

/** A record in `phase` with every field away from its default, so that each change shows. */
function busyRecord(phase: Phase): SessionRecord {
  return Object.freeze(
    record({ phase, failures: 2, rejectedAccessToken: 'at-0', reauth: 'elsewhere', endReason: 'signedOut' }),
  );
}

/** What each action does to the fields other than `phase`, from a {@link busyRecord}. */
const EFFECTS: Record<ActionType, Partial<SessionRecord>> = {
  // The previous session's tokens (and what was rejected of them) stay until the new one is saved.
  signInStarted: { failures: 0, reauth: undefined },
  tokensApplied: { tokens: NEW_TOKENS, failures: 0, rejectedAccessToken: undefined, reauth: undefined },
  tokensLoaded: { tokens: NEW_TOKENS, failures: 0, rejectedAccessToken: undefined, reauth: undefined },
  refreshStarted: { failures: 0 },
  accessTokenRejected: { rejectedAccessToken: 'at-1' },
  refreshFailed: { failures: 3 },
  reauthStarted: { failures: 0, reauth: 'own' },
  signOutStarted: {
    tokens: null,
    failures: 0,
    rejectedAccessToken: undefined,
    reauth: undefined,
    endReason: 'signedOut',
  },
  signOutFinished: {},
  disposed: { tokens: null, failures: 0, rejectedAccessToken: undefined, reauth: undefined, endReason: 'disposed' },
};

const PAIRS = PHASES.flatMap((phase) =>
  (Object.keys(ACTIONS) as ActionType[]).map((action) => ({ phase, action, next: EXPECTED[phase][action] })),
);

describe('the transition table', () => {
  it('lists exactly the transitions the state machine allows', () => {
    const listed = Object.fromEntries(
      PHASES.map((phase) => [
        phase,
        Object.fromEntries(
          (Object.keys(ACTIONS) as ActionType[]).map((action) => [action, TRANSITIONS[phase][action] ?? '-']),
        ),
      ]),
    );
    expect(listed).toEqual(EXPECTED);
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...PHASES].sort());
  });

  it.each(PAIRS.filter((pair) => pair.next !== '-'))('$phase + $action leads to $next', ({ phase, action, next }) => {
    const before = busyRecord(phase);
    const after = reduce(before, ACTIONS[action]);
    expect(after).not.toBe(before);
    expect(after).toEqual({ ...before, phase: next, ...EFFECTS[action] });
  });

  it.each(PAIRS.filter((pair) => pair.next === '-'))(
    '$phase ignores $action: the record is returned as it is',
    ({ phase, action }) => {
      const before = busyRecord(phase);
      expect(reduce(before, ACTIONS[action])).toBe(before);
    },
  );

  it('nothing leaves the disposed phase', () => {
    let current = reduce(busyRecord('active'), ACTIONS.disposed);
    for (const action of Object.values(ACTIONS)) current = reduce(current, action);
    expect(current.phase).toBe('disposed');
    expect(current.tokens).toBeNull();
  });

  it('a session starts signed out, with nothing in it', () => {
    expect(INITIAL).toEqual({
      phase: 'signedOut',
      tokens: null,
      failures: 0,
      rejectedAccessToken: undefined,
      reauth: undefined,
      endReason: 'notSignedIn',
    });
  });
});

describe('what the actions carry into the record', () => {
  it.each([
    { reason: 'user', endReason: 'signedOut' },
    { reason: 'otherContext', endReason: 'signedOut' },
    { reason: 'reauthFailed', endReason: 'reauthFailed' },
  ] as const)('a sign-out for reason $reason ends the session with $endReason', ({ reason, endReason }) => {
    const after = reduce(busyRecord('active'), { type: 'signOutStarted', reason });
    expect(after.endReason).toBe(endReason);
  });

  it.each(['own', 'elsewhere'] as const)('re-authentication %s is recorded as such', (by) => {
    expect(reduce(busyRecord('refreshing'), { type: 'reauthStarted', by }).reauth).toBe(by);
  });

  it('each transient failure of the refresh in flight is counted', () => {
    let current = reduce(record(), ACTIONS.refreshStarted);
    current = reduce(current, ACTIONS.refreshFailed);
    current = reduce(current, ACTIONS.refreshFailed);
    expect(current.failures).toBe(2);
    // A refresh already in flight is not restarted: its count stands until it settles.
    expect(reduce(current, ACTIONS.refreshStarted)).toBe(current);
  });

  it('tokens applied after a sign-out keep the reason the previous session ended with', () => {
    const ended = reduce(record(), { type: 'signOutStarted', reason: 'reauthFailed' });
    expect(reduce(ended, ACTIONS.tokensApplied).endReason).toBe('reauthFailed');
  });
});

describe('the public state', () => {
  it.each<[Phase, boolean, SessionState]>([
    ['signedOut', false, 'signedOut'],
    ['signedOut', true, 'signedOut'],
    ['signingIn', false, 'signedOut'],
    ['signingIn', true, 'active'],
    ['active', true, 'active'],
    ['active', false, 'active'],
    ['refreshing', true, 'refreshing'],
    ['refreshing', false, 'refreshing'],
    ['reauthenticating', true, 'reauthenticating'],
    ['reauthenticating', false, 'reauthenticating'],
    ['signingOut', true, 'signedOut'],
    ['signingOut', false, 'signedOut'],
    ['disposed', true, 'signedOut'],
    ['disposed', false, 'signedOut'],
  ])('%s (tokens: %s) reads as %s', (phase, withTokens, expected) => {
    expect(publicState(record({ phase, tokens: withTokens ? tokens() : null }))).toBe(expected);
  });
});

describe('when a session is over', () => {
  it.each<[Phase, boolean]>([
    ['signedOut', true],
    ['signingIn', false],
    ['active', false],
    ['refreshing', false],
    ['reauthenticating', false],
    ['signingOut', true],
    ['disposed', true],
  ])('%s: ended is %s', (phase, ended) => {
    expect(isEnded(record({ phase }))).toBe(ended);
  });
});

describe('the token a request may use now', () => {
  const cases: { name: string; record: SessionRecord; token: string | undefined; gate: boolean }[] = [
    { name: 'active with a good token: served', record: record(), token: 'at-1', gate: true },
    { name: 'active without tokens: none', record: record({ tokens: null }), token: undefined, gate: false },
    {
      name: 'active, the token expires in exactly the leeway (1000 ms): not served',
      record: record({ tokens: tokens({ accessTokenExpiresAt: NOW + 1000 }) }),
      token: undefined,
      gate: false,
    },
    {
      name: 'active, the token expires 1001 ms from now: served',
      record: record({ tokens: tokens({ accessTokenExpiresAt: NOW + 1001 }) }),
      token: 'at-1',
      gate: true,
    },
    {
      name: 'active, the token expired: not served',
      record: record({ tokens: tokens({ accessTokenExpiresAt: NOW - 1 }) }),
      token: undefined,
      gate: false,
    },
    {
      name: 'active, the expiry is unknown: served',
      record: record({ tokens: tokens({ accessTokenExpiresAt: null }) }),
      token: 'at-1',
      gate: true,
    },
    {
      name: 'active, no access token (the store kept none): not served',
      record: record({ tokens: tokens({ accessToken: '', accessTokenExpiresAt: null }) }),
      token: undefined,
      gate: false,
    },
    {
      name: 'active, the server rejected this token: not served',
      record: record({ rejectedAccessToken: 'at-1' }),
      token: undefined,
      gate: false,
    },
    {
      name: 'active, the server rejected an older token: served',
      record: record({ rejectedAccessToken: 'at-0' }),
      token: 'at-1',
      gate: true,
    },
    { name: 'signing in over a good token: served', record: record({ phase: 'signingIn' }), token: 'at-1', gate: true },
    {
      name: 'signing in, no previous session: none (the gate stays shut)',
      record: record({ phase: 'signingIn', tokens: null }),
      token: undefined,
      gate: false,
    },
    {
      name: 'refreshing, no failure yet: requests wait',
      record: record({ phase: 'refreshing', failures: 0 }),
      token: undefined,
      gate: false,
    },
    {
      name: 'refreshing after one failure: the good token serves',
      record: record({ phase: 'refreshing', failures: 1 }),
      token: 'at-1',
      gate: true,
    },
    {
      name: 'refreshing after one failure, the token expired: requests wait',
      record: record({ phase: 'refreshing', failures: 1, tokens: tokens({ accessTokenExpiresAt: NOW }) }),
      token: undefined,
      gate: false,
    },
    {
      name: 'refreshing after one failure, the token rejected: requests wait',
      record: record({ phase: 'refreshing', failures: 1, rejectedAccessToken: 'at-1' }),
      token: undefined,
      gate: false,
    },
    {
      name: 'reauthenticating, even after failures: requests wait',
      record: record({ phase: 'reauthenticating', failures: 1 }),
      token: undefined,
      gate: false,
    },
    {
      name: 'signed out (with tokens left in the record): none, and the gate opens to refuse',
      record: record({ phase: 'signedOut' }),
      token: undefined,
      gate: true,
    },
    {
      name: 'signed out without tokens: the gate opens to refuse',
      record: record({ phase: 'signedOut', tokens: null }),
      token: undefined,
      gate: true,
    },
    {
      name: 'signing out: none, the gate opens to refuse',
      record: record({ phase: 'signingOut' }),
      token: undefined,
      gate: true,
    },
    {
      name: 'disposed: none, the gate opens to refuse',
      record: record({ phase: 'disposed', tokens: null }),
      token: undefined,
      gate: true,
    },
  ];

  it.each(cases)('$name', ({ record, token }) => {
    expect(servableToken(record, NOW)).toBe(token);
  });

  it.each(cases)('gate for $name', ({ record, gate }) => {
    expect(isGateOpen(record, NOW)).toBe(gate);
  });
});
