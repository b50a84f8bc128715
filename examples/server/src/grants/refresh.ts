import { hashRefreshToken, looksLikeRefreshToken, openReplay, sealReplay } from '../crypto/refresh-token.ts';
import { invalidRequest, OAuthError } from '../http/errors.ts';
import type { GrantContext } from './context.ts';
import { mintTokens } from './token-response.ts';

/** One message for every refused refresh token: it never tells whether the token existed. */
function refused(): OAuthError {
  return new OAuthError(400, 'invalid_grant', 'The refresh token is invalid, expired or revoked.');
}

/**
 * The refresh_token grant (RFC 6749 section 6) with rotation (RFC 9700 section 4.14.2).
 *
 * The new tokens are prepared before the backend's lock (signing is asynchronous, and the
 * SQLite transaction must stay synchronous); the repository then decides atomically. If
 * this request loses a race, its prepared tokens are simply dropped and the winner's sealed
 * response is returned instead, so all concurrent callers get the same body.
 */
export async function refreshGrant(context: GrantContext, params: Map<string, string>, clientId: string): Promise<string> {
  const presented = params.get('refresh_token');
  if (presented === undefined) throw invalidRequest('The refresh_token parameter is required.');
  if (!looksLikeRefreshToken(presented)) {
    context.record('refresh_token', 'invalid', { clientId, reason: 'malformed token' });
    throw refused();
  }
  const tokenHash = hashRefreshToken(presented);
  const now = context.now();
  const graceMs = context.settings.refreshGraceSeconds * 1000;

  const found = await context.repository.findRefreshToken(tokenHash);
  if (!found) {
    context.record('refresh_token', 'invalid', { clientId, reason: 'unknown token' });
    throw refused();
  }
  const minted = await mintTokens(context, found.family, now);
  const result = await context.repository.redeemRefreshToken({
    tokenHash,
    clientId,
    now,
    graceMs,
    child: minted.refreshToken,
    replay: sealReplay(presented, tokenHash, minted.body),
  });

  const details = { clientId, familyId: result.family?.id, userId: result.family?.userId };
  switch (result.outcome) {
    case 'rotated':
      context.record('refresh_token', 'rotated', details);
      return minted.body;
    case 'replayed': {
      const body = openReplay(presented, tokenHash, result.replay);
      if (body === undefined) {
        context.record('refresh_token', 'invalid', { ...details, reason: 'replay does not decrypt' });
        throw refused();
      }
      context.record('refresh_token', 'replayed', details);
      return body;
    }
    case 'reuse-detected':
      context.record('refresh_token', 'reuse-detected', { ...details, reason: 'rotated token reused after grace window' });
      throw refused();
    default:
      context.record('refresh_token', result.outcome, { ...details, reason: result.reason });
      throw refused();
  }
}
