import { decodeJwt } from 'jose';
import type { ResolvedOptions } from '../options.ts';
import { parseTokenResponse } from '../token-set.ts';
import type { ReauthReason, SessionTokens } from '../types.ts';
import { requestTokens, withDeadline } from './grant.ts';

/** The RFC 7523 grant type for a JWT assertion. */
export const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** A successful re-authentication. */
export interface Reauthenticated {
  tokens: SessionTokens;
  method: 'biometric' | 'signInPrompt';
}

function subjectOf(accessToken: string | undefined): string | undefined {
  if (!accessToken) return undefined;
  try {
    const { sub } = decodeJwt(accessToken);
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The re-authentication chain: biometric (when a provider is given and available) ->
 * the app's sign-in prompt -> `null` (the caller signs out). Each step's failure, cancellation
 * or exception falls through to the next; none of them throws.
 * @param signal - aborts once the session was signed out or replaced meanwhile
 */
export async function reauthenticate(
  options: ResolvedOptions,
  reason: ReauthReason,
  lastAccessToken: string | undefined,
  signal: AbortSignal,
): Promise<Reauthenticated | null> {
  const { biometric, signInPrompt, logger, clock } = options;
  if (biometric) {
    try {
      if (await biometric.isAvailable()) {
        const assertion = await biometric.getAssertion({
          audience: options.tokenEndpoint,
          clientId: options.clientId,
          subject: subjectOf(lastAccessToken),
          reason,
          signal,
        });
        if (assertion && !signal.aborted) {
          const body = await withDeadline(options, (signal) =>
            requestTokens(options, { grant_type: JWT_BEARER_GRANT, assertion }, signal),
          );
          return { tokens: parseTokenResponse(body, clock.now()), method: 'biometric' };
        }
        logger.info('biometric cancelled');
      }
    } catch (error) {
      logger.warn('biometric failed', { error });
    }
  }
  if (signInPrompt && !signal.aborted) {
    try {
      const response = await signInPrompt(reason, { signal });
      if (response) return { tokens: parseTokenResponse(response, clock.now()), method: 'signInPrompt' };
      logger.info('sign-in prompt dismissed');
    } catch (error) {
      logger.warn('sign-in prompt failed', { error });
    }
  }
  return null;
}
