/**
 * The session's decisions, each a pure function of what is known at that moment, with a table
 * of cases in test/decisions.test.ts. The manager and the refresher act on the answers; they
 * decide nothing themselves.
 */
import type { SessionEndReason } from '../errors.ts';
import type { ReauthReason, SessionTokens } from '../types.ts';
import type { Loaded } from './storage.ts';
import { isEnded, servableToken, type SessionRecord } from './state.ts';
import { isRefreshDue, isUsable } from './tokens.ts';

/**
 * How long the other contexts wait for the one re-authenticating (the user may be typing a
 * password) before they run their own chain; a change of the store ends the wait at once.
 */
export const REAUTH_HANDOFF_MS = 120_000;

/** What a request asking for a token does. */
export type TokenUse =
  | { kind: 'serve'; token: string }
  /** Start the refresh (none runs yet, or its timer is late), then wait for its token. */
  | { kind: 'refresh' }
  | { kind: 'wait' }
  /** No session: why it ended (or `notSignedIn` when there never was one). */
  | { kind: 'refuse'; reason: SessionEndReason };

/** Serve, wait or refresh: what a request for a token does in `record` at `now`. */
export function decideTokenUse(record: SessionRecord, now: number, refreshMargin: number): TokenUse {
  if (record.phase === 'disposed') return { kind: 'refuse', reason: 'disposed' };
  if (isEnded(record)) return { kind: 'refuse', reason: record.endReason };
  if (record.tokens === null) return { kind: 'refuse', reason: 'notSignedIn' };
  const token = servableToken(record, now);
  if (record.phase === 'active') {
    return token !== undefined && !isRefreshDue(record.tokens, now, refreshMargin)
      ? { kind: 'serve', token }
      : { kind: 'refresh' };
  }
  return token === undefined ? { kind: 'wait' } : { kind: 'serve', token };
}

/** What the refresher read from the store after taking the lock. */
export interface LockedRead {
  stored: Loaded;
  /** The set the refresh started from. */
  current: SessionTokens;
  /** The stored set is one this manager has moved on from (saving a rotation failed). */
  storedIsRetired: boolean;
  /** Another context announced a newer write than the stored set: it is still on the way. */
  storedIsStale: boolean;
  /** Another context held the lock first: its write may not be readable here yet. */
  waited: boolean;
  /** The store was already read a second time after waiting for that write. */
  reread: boolean;
  /** The store holds (as far as this manager knows) a session it saved or took from it. */
  holdsOurs: boolean;
  now: number;
  rejectedAccessToken: string | undefined;
}

/** What to do with what the store holds under the lock. */
export type LockedDecision =
  /** Another context's write may still arrive: wait for the store's change notice, then read again. */
  | { kind: 'waitForStore' }
  /** Another context refreshed: use its tokens (a second refresh would be reuse to the server). */
  | { kind: 'adopt'; tokens: SessionTokens }
  /** Refresh from `base`; `catchUp`: save it first, the store is behind (a failed save). */
  | { kind: 'refresh'; base: SessionTokens; catchUp: boolean }
  | { kind: 'signedOutElsewhere' };

/** Adopt, refresh, wait for another context, or give up: the store read under the lock. */
export function decideUnderLock(read: LockedRead): LockedDecision {
  const { stored, current, now, rejectedAccessToken } = read;
  const newer =
    stored.kind === 'ok' && stored.tokens.refreshToken !== current.refreshToken && !read.storedIsRetired
      ? stored.tokens
      : undefined;
  const newerUsable = newer !== undefined && isUsable(newer, now, rejectedAccessToken);
  if (!read.reread && (read.storedIsStale || (read.waited && stored.kind === 'ok' && !newerUsable))) {
    return { kind: 'waitForStore' };
  }
  if (newer) return newerUsable ? { kind: 'adopt', tokens: newer } : { kind: 'refresh', base: newer, catchUp: false };
  if (stored.kind === 'ok') {
    // The same refresh token: another context may have found it dead meanwhile.
    if (stored.tokens.refreshToken === current.refreshToken) {
      return {
        kind: 'refresh',
        base: { ...current, refreshRejectedAt: stored.tokens.refreshRejectedAt },
        catchUp: false,
      };
    }
    // A retired set: saving our last rotation failed. Refresh from memory, catching the store up.
    return { kind: 'refresh', base: current, catchUp: true };
  }
  // Empty (or unreadable) where our session was: another context signed out.
  return read.holdsOurs ? { kind: 'signedOutElsewhere' } : { kind: 'refresh', base: current, catchUp: false };
}

/** Whether `base` can be refreshed at `now`, and if not, why. */
export type GrantDecision =
  | { kind: 'grant'; refreshToken: string }
  | { kind: 'reauth'; reason: ReauthReason }
  /** Another context found the refresh token dead moments ago and is re-authenticating: wait for it. */
  | { kind: 'reauthElsewhere' };

export function decideGrant(base: SessionTokens, now: number): GrantDecision {
  const { refreshToken, refreshRejectedAt, sessionExpiresAt = Infinity, refreshTokenExpiresAt = Infinity } = base;
  if (refreshRejectedAt !== undefined) {
    return now - refreshRejectedAt < REAUTH_HANDOFF_MS
      ? { kind: 'reauthElsewhere' }
      : { kind: 'reauth', reason: 'refreshRejected' };
  }
  if (refreshToken === undefined) return { kind: 'reauth', reason: 'noRefreshToken' };
  if (now >= sessionExpiresAt) return { kind: 'reauth', reason: 'sessionEnded' };
  if (now >= refreshTokenExpiresAt) return { kind: 'reauth', reason: 'refreshTokenExpired' };
  return { kind: 'grant', refreshToken };
}

/** What the store held once a grant was answered, against the set it was made from. */
export type ChangeDuringGrant =
  | { kind: 'none' }
  | { kind: 'signedOutElsewhere' }
  | { kind: 'adopt'; tokens: SessionTokens }
  /** Another set was saved, but it cannot be used: neither it nor the grant's answer is safe to keep. */
  | { kind: 'conflict' };

/**
 * Whatever was saved while the grant was in flight wins over its answer: a sign-out in another
 * context (a lock that timed out lets that happen), a sign-in, another context's refresh.
 * @param after - the store after the grant; `undefined` when it could not be read
 */
export function decideChangeDuringGrant(
  after: Loaded | undefined,
  base: SessionTokens,
  afterIsRetired: boolean,
  now: number,
  rejectedAccessToken: string | undefined,
): ChangeDuringGrant {
  if (after?.kind === 'empty') return { kind: 'signedOutElsewhere' };
  if (after?.kind !== 'ok' || after.tokens.refreshToken === base.refreshToken || afterIsRetired)
    return { kind: 'none' };
  return isUsable(after.tokens, now, rejectedAccessToken)
    ? { kind: 'adopt', tokens: after.tokens }
    : { kind: 'conflict' };
}

/** What a context does when another one changed the store. */
export type FollowDecision = 'ignore' | 'adopt' | 'signOut';

/**
 * Whether to follow a store change from another context. A refresh re-reads the store under
 * the lock anyway, and a sign-in or sign-out of this context is what changed it.
 */
export function decideFollow(
  record: SessionRecord,
  loaded: Loaded,
  loadedIsRetired: boolean,
  holdsOurs: boolean,
  now: number,
): FollowDecision {
  if (isBusyWithStore(record)) return 'ignore';
  if (loaded.kind !== 'ok') return !isEnded(record) && holdsOurs ? 'signOut' : 'ignore';
  const { tokens } = loaded;
  const current = record.tokens;
  if (tokens.refreshToken === current?.refreshToken && tokens.accessToken === current?.accessToken) return 'ignore';
  // Nothing better than what we have: an unusable token, or a set we already moved on from.
  if (!isUsable(tokens, now) || loadedIsRetired) return 'ignore';
  return 'adopt';
}

/** Phases in which this context itself writes the store, so that its changes are not followed. */
export function isBusyWithStore({ phase }: SessionRecord): boolean {
  return phase === 'refreshing' || phase === 'signingIn' || phase === 'signingOut' || phase === 'disposed';
}

/** `restore()` against the session this manager already runs. */
export type RestoreDecision =
  /** The store holds a set this manager moved on from (a failed save): memory holds the live one. */
  | 'catchUpStore'
  /** Called again on the running session (on resume, say): restarting it could abandon a grant in flight. */
  | 'join'
  | 'start';

export function decideRestore(record: SessionRecord, stored: SessionTokens, storedIsRetired: boolean): RestoreDecision {
  if (record.tokens && storedIsRetired) return 'catchUpStore';
  if (!isEnded(record) && stored.refreshToken === record.tokens?.refreshToken) return 'join';
  return 'start';
}

/** How a restored session starts. */
export type StartDecision = 'use' | 'refresh' | 'reauthenticate';

/**
 * @param reauthElsewhere - a live context runs the re-authentication chain for this session
 */
export function decideStart(stored: SessionTokens, now: number, reauthElsewhere: boolean): StartDecision {
  const dead = stored.refreshRejectedAt !== undefined;
  if (!dead) return isUsable(stored, now) ? 'use' : 'refresh';
  // Found dead, and nobody is re-authenticating (the app was relaunched): prompt at once.
  // Another context is: wait for its outcome like the contexts that were open all along.
  return reauthElsewhere ? 'refresh' : 'reauthenticate';
}
