import { isTransientError } from '../errors.ts';
import type { ResolvedOptions } from '../options.ts';
import { parseTokenResponse } from '../token-set.ts';
import type { ReauthReason, SessionTokens } from '../types.ts';
import { requestTokens, withDeadline } from './grant.ts';
import { retryUntilSettled, type Attempt } from './retry.ts';

/** The RFC 7523 grant type for a JWT assertion. */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** Unusable token responses to the device-key exchange tried before the chain moves on to the prompt. */
const UNUSABLE_ANSWERS_TRIED = 2;

/** How the re-authentication chain ended. */
export type ReauthResult =
  | { kind: 'done'; tokens: SessionTokens; method: 'biometric' | 'signInPrompt' }
  /**
   * The device-key exchange could not reach the server (or got an answer a captive portal
   * makes), or, `unusable`, got a token response that fails validation: keep the session and
   * try again later.
   */
  | { kind: 'transient'; error: Error; unusable?: boolean }
  /** Every path failed or was declined: sign out. */
  | { kind: 'failed' };

/**
 * The re-authentication chain: biometric (when a provider is given and available) ->
 * the app's sign-in prompt -> `failed` (the caller signs out). A cancellation, a rejected
 * assertion or an exception falls through to the next step; a network failure of the
 * device-key exchange does not (a blip is no reason to ask for a password, let alone to sign
 * out): the caller retries. Never throws.
 * @param subject - the user, for the assertion's `sub`
 * @param signal - aborts once the session was signed out or replaced meanwhile
 * @param steps - `biometric: undefined` skips the biometric step (default: the options' provider)
 */
export async function reauthenticate(
  options: ResolvedOptions,
  reason: ReauthReason,
  subject: string | undefined,
  signal: AbortSignal,
  steps: Pick<ResolvedOptions, 'biometric'> = options,
): Promise<ReauthResult> {
  const { signInPrompt, logger, clock } = options;
  const { biometric } = steps;
  const dpop = options.dpop !== undefined;
  if (biometric) {
    try {
      if (await biometric.isAvailable()) {
        const assertion = await biometric.getAssertion({
          audience: options.tokenEndpoint,
          clientId: options.clientId,
          subject,
          reason,
          signal,
        });
        if (assertion && !signal.aborted) {
          const body = await withDeadline(
            options,
            (deadline) => requestTokens(options, { grant_type: JWT_BEARER_GRANT, assertion }, deadline),
            signal,
          );
          try {
            return {
              kind: 'done',
              tokens: parseTokenResponse(body, clock.now(), undefined, dpop),
              method: 'biometric',
            };
          } catch (error) {
            // JSON, but not a usable token response: retried like a blip (the user did pass
            // Face ID), and counted by the caller (a server that keeps answering so is broken).
            return { kind: 'transient', error: error as Error, unusable: true };
          }
        }
        logger.info('biometric cancelled');
      }
    } catch (error) {
      if (isTransientError(error)) return { kind: 'transient', error: error as Error };
      logger.warn('biometric failed', { error });
    }
  }
  if (signInPrompt && !signal.aborted) {
    try {
      const response = await signInPrompt(reason, { signal });
      if (response) {
        return {
          kind: 'done',
          tokens: parseTokenResponse(response, clock.now(), undefined, dpop),
          method: 'signInPrompt',
        };
      }
      logger.info('sign-in prompt dismissed');
    } catch (error) {
      logger.warn('sign-in prompt failed', { error });
    }
  }
  return { kind: 'failed' };
}

/**
 * {@link reauthenticate}, run again after a backoff (or as soon as the network is back; a
 * server's `Retry-After` lengthens the wait, and the network does not cut that short) while
 * the device-key exchange cannot reach the server: the session is kept meanwhile. Resolves
 * `failed` when `signal` aborts (the caller sees the abort).
 * @param failed - told of each transient failure, with the wait before the next run
 */
export async function reauthenticateUntilSettled(
  options: ResolvedOptions,
  reason: ReauthReason,
  subject: string | undefined,
  failed: (error: Error, attempt: number, retryInMs: number) => void,
  signal: AbortSignal,
): Promise<Exclude<ReauthResult, { kind: 'transient' }>> {
  const { logger, signInPrompt, network } = options;
  let { biometric } = options;
  let unusable = 0;
  const attempt = async (): Promise<Attempt<Exclude<ReauthResult, { kind: 'transient' }>>> => {
    for (;;) {
      const result = await reauthenticate(options, reason, subject, signal, { biometric });
      if (result.kind !== 'transient') return { kind: 'settled', value: result };
      if (!(result.unusable && signInPrompt && ++unusable >= UNUSABLE_ANSWERS_TRIED)) {
        return { kind: 'failed', error: result.error };
      }
      // Not a blip: the server keeps answering the device-key exchange with a token response
      // that fails validation. Showing Face ID again cannot help; the sign-in prompt can.
      // (Without a prompt this would be a sign-out: keep retrying instead.)
      logger.warn('device-key answers unusable; falling through to the sign-in prompt', { error: result.error });
      biometric = undefined;
    }
  };
  // The network coming back ends a backoff, not a wait the server asked for with Retry-After.
  const wake = (wakeUp: () => void) => network.subscribe(wakeUp);
  return (await retryUntilSettled(options, attempt, { wake }, failed, signal)) ?? { kind: 'failed' };
}
