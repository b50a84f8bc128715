import type { SessionTokens, TokenChangeCause } from '../types.ts';

/** How many recent access tokens keep their owner on record. */
const REMEMBERED = 16;

/**
 * Whose session a token set is: its user (the JWT `sub`). Opaque tokens do not say: then the
 * app's own sign-ins (`setTokens`, or any session after a sign-out) start a new owner, while
 * refreshes and re-authentications continue the current one (the device key, or the sign-in
 * prompt, re-authenticates the same user).
 * @param signIns - how many sign-ins this manager has seen, this one included
 */
export function ownerOf(tokens: SessionTokens, signIns: number): string {
  return tokens.subject === undefined ? `#${signIns}` : `sub:${tokens.subject}`;
}

/** Whether a token change starts a new sign-in for {@link ownerOf}. */
export function startsSignIn(cause: TokenChangeCause, hadSession: boolean): boolean {
  return !hadSession || cause === 'signIn';
}

/**
 * Remembers whose session each recent access token belonged to, so that a request made for
 * one user is never sent again with another user's token.
 */
export class Ownership {
  readonly #owners = new Map<string, string>();
  #signIns = 0;
  /** Whose session the current tokens are; `undefined` before the first sign-in. */
  current: string | undefined;

  /** Records the owner of a token set now in use. */
  record(tokens: SessionTokens, cause: TokenChangeCause, hadSession: boolean): void {
    if (startsSignIn(cause, hadSession)) this.#signIns++;
    this.current = ownerOf(tokens, this.#signIns);
    if (tokens.accessToken === '') return; // not persisted: there is no token to recognise
    this.#owners.set(tokens.accessToken, this.current);
    if (this.#owners.size > REMEMBERED) this.#owners.delete(this.#owners.keys().next().value!);
  }

  /**
   * Whether `usedToken` belongs to the current session's owner. A token of the same user, or
   * one this manager never handed out (or has forgotten), passes.
   */
  isCurrent(usedToken: string): boolean {
    const owner = this.#owners.get(usedToken);
    return owner === undefined || this.current === undefined || owner === this.current;
  }
}
