import type { SessionEndReason } from '../errors.ts';
import type { SessionState, SessionTokens, SignOutReason, TokenChangeCause } from '../types.ts';
import { isUsable } from './tokens.ts';

/**
 * The phases of a session. The public {@link SessionState} is derived from them
 * ({@link publicState}); docs/ARCHITECTURE.md draws the transitions.
 */
export type Phase =
  | 'signedOut'
  /** The app's sign-in is being saved under the lock; the previous session (if any) is over. */
  | 'signingIn'
  | 'active'
  | 'refreshing'
  /** The refresh token is dead: this context runs the re-authentication chain, or waits for the one that does. */
  | 'reauthenticating'
  /** The store is being cleared under the lock; waiting requests have been refused. */
  | 'signingOut'
  | 'disposed';

/** The one record of a session's state. Changed only by {@link reduce}. */
export interface SessionRecord {
  readonly phase: Phase;
  readonly tokens: SessionTokens | null;
  /** Transient failures of the refresh in flight (0: none yet). */
  readonly failures: number;
  /** An access token the server answered 401 to: not used again, whatever its `exp` says. */
  readonly rejectedAccessToken: string | undefined;
  /** While re-authenticating: whether this context prompts (`own`) or waits for another one's outcome. */
  readonly reauth: 'own' | 'elsewhere' | undefined;
  /** Once the session is over: why, for the error that refused requests are given. */
  readonly endReason: SessionEndReason;
}

/** What can happen to a session. Each is a row of {@link TRANSITIONS}. */
export type SessionAction =
  /** `setTokens`: the new session is being saved. */
  | { type: 'signInStarted' }
  /** A token set is in use now (from a sign-in, a refresh, a re-authentication, another context, the store). */
  | { type: 'tokensApplied'; tokens: SessionTokens; cause: TokenChangeCause }
  /** `restore` found a session that needs a refresh (or re-authentication) before use: it is refreshing. */
  | { type: 'tokensLoaded'; tokens: SessionTokens }
  | { type: 'refreshStarted' }
  /** The server answered 401 to the current access token. */
  | { type: 'accessTokenRejected'; accessToken: string }
  | { type: 'refreshFailed' }
  | { type: 'reauthStarted'; by: 'own' | 'elsewhere' }
  | { type: 'signOutStarted'; reason: SignOutReason }
  | { type: 'signOutFinished' }
  | { type: 'disposed' };

export type ActionType = SessionAction['type'];

/**
 * The transition table: for each phase, the actions it accepts and the phase they lead to.
 * An action a phase does not list is ignored (the record stays as it is): an await that
 * lands after the session moved on cannot bring an old phase back.
 */
export const TRANSITIONS: { readonly [P in Phase]: Partial<Readonly<Record<ActionType, Phase>>> } = {
  signedOut: {
    signInStarted: 'signingIn',
    tokensApplied: 'active',
    tokensLoaded: 'refreshing',
    signOutStarted: 'signingOut',
    disposed: 'disposed',
  },
  signingIn: {
    signInStarted: 'signingIn',
    tokensApplied: 'active',
    tokensLoaded: 'refreshing',
    accessTokenRejected: 'signingIn',
    signOutStarted: 'signingOut',
    disposed: 'disposed',
  },
  active: {
    signInStarted: 'signingIn',
    tokensApplied: 'active',
    tokensLoaded: 'refreshing',
    refreshStarted: 'refreshing',
    accessTokenRejected: 'active',
    reauthStarted: 'reauthenticating',
    signOutStarted: 'signingOut',
    disposed: 'disposed',
  },
  refreshing: {
    signInStarted: 'signingIn',
    tokensApplied: 'active',
    tokensLoaded: 'refreshing',
    accessTokenRejected: 'refreshing',
    refreshFailed: 'refreshing',
    reauthStarted: 'reauthenticating',
    signOutStarted: 'signingOut',
    disposed: 'disposed',
  },
  reauthenticating: {
    signInStarted: 'signingIn',
    tokensApplied: 'active',
    tokensLoaded: 'refreshing',
    reauthStarted: 'reauthenticating',
    signOutStarted: 'signingOut',
    disposed: 'disposed',
  },
  signingOut: {
    signInStarted: 'signingIn',
    tokensApplied: 'active',
    tokensLoaded: 'refreshing',
    signOutStarted: 'signingOut',
    signOutFinished: 'signedOut',
    disposed: 'disposed',
  },
  disposed: {},
};

export const INITIAL: SessionRecord = {
  phase: 'signedOut',
  tokens: null,
  failures: 0,
  rejectedAccessToken: undefined,
  reauth: undefined,
  endReason: 'notSignedIn',
};

const ENDED = { tokens: null, failures: 0, rejectedAccessToken: undefined, reauth: undefined } as const;

/** The pure reducer: the next record, or `record` itself when the action does not apply. */
export function reduce(record: SessionRecord, action: SessionAction): SessionRecord {
  const phase = TRANSITIONS[record.phase][action.type];
  if (phase === undefined) return record;
  switch (action.type) {
    case 'signInStarted':
      // The previous session is over; its tokens still serve requests until the new one is saved.
      return { ...record, phase, failures: 0, reauth: undefined };
    case 'tokensApplied':
    case 'tokensLoaded':
      return {
        ...record,
        phase,
        tokens: action.tokens,
        failures: 0,
        rejectedAccessToken: undefined,
        reauth: undefined,
      };
    case 'refreshStarted':
      return { ...record, phase, failures: 0 };
    case 'accessTokenRejected':
      return { ...record, phase, rejectedAccessToken: action.accessToken };
    case 'refreshFailed':
      return { ...record, phase, failures: record.failures + 1 };
    case 'reauthStarted':
      return { ...record, phase, failures: 0, reauth: action.by };
    case 'signOutStarted':
      return { ...ENDED, phase, endReason: action.reason === 'reauthFailed' ? 'reauthFailed' : 'signedOut' };
    case 'signOutFinished':
      return { ...record, phase };
    case 'disposed':
      return { ...ENDED, phase, endReason: 'disposed' };
  }
}

/** The state the app sees. */
export function publicState({ phase, tokens }: SessionRecord): SessionState {
  switch (phase) {
    case 'active':
    case 'refreshing':
    case 'reauthenticating':
      return phase;
    case 'signingIn':
      // The previous session's tokens (if any) still serve until the sign-in is saved.
      return tokens === null ? 'signedOut' : 'active';
    default:
      return 'signedOut';
  }
}

/** Whether the session is over here: requests are refused rather than kept waiting. */
export function isEnded({ phase }: SessionRecord): boolean {
  return phase === 'signedOut' || phase === 'signingOut' || phase === 'disposed';
}

/**
 * The access token a request may use now, or `undefined` when it must wait. A refresh in
 * flight holds requests back until it has failed once: after that, a flaky token endpoint
 * does not hold up requests a still-good token can serve.
 */
export function servableToken(record: SessionRecord, now: number): string | undefined {
  const { phase, tokens, failures, rejectedAccessToken } = record;
  if (!tokens || !isUsable(tokens, now, rejectedAccessToken)) return undefined;
  if (phase === 'active' || phase === 'signingIn') return tokens.accessToken;
  if (phase === 'refreshing' && failures > 0) return tokens.accessToken;
  return undefined;
}

/** Whether waiting requests are let through to read the outcome: a token, or the session's end. */
export function isGateOpen(record: SessionRecord, now: number): boolean {
  return isEnded(record) || servableToken(record, now) !== undefined;
}
