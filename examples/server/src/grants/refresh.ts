import {
  generateRefreshToken,
  hashRefreshToken,
  looksLikeRefreshToken,
  openChild,
  sealChild,
} from '../crypto/refresh-token.ts';
import { invalidRequest, OAuthError } from '../http/errors.ts';
import type { ChainLink } from '../storage/repository.ts';
import type { GrantContext } from './context.ts';
import { tokenResponse } from './token-response.ts';

/** One message for every refused refresh token: it never tells whether the token existed. */
function refused(): OAuthError {
  return new OAuthError(400, 'invalid_grant', 'The refresh token is invalid, expired or revoked.');
}

/**
 * Follows a replayed token's chain to the live token of its family: each retired link
 * holds its child sealed under a pad that only the link's own token derives, so the holder
 * of any ancestor inside the grace window can walk forward, and nobody else (nor a copy of
 * the database) can. Undefined when the chain is broken (the family was revoked meanwhile,
 * a link predates sealed children, a row was tampered with).
 */
function liveLink(presented: string, chain: ChainLink[]): { token: string; link: ChainLink } | undefined {
  let token = presented;
  for (const link of chain) {
    if (link.rotatedAt === null) return hashRefreshToken(token) === link.tokenHash ? { token, link } : undefined;
    if (link.replay === null || link.childHash === null) return undefined;
    const child = openChild(token, link.replay, link.childHash);
    if (child === undefined) return undefined;
    token = child;
  }
  return undefined;
}

/**
 * The refresh_token grant (RFC 6749 section 6) with rotation (RFC 9700 section 4.14.2).
 *
 * The repository decides atomically (SQLite: in a group-committed transaction; PostgreSQL:
 * in one statement). The access token is signed only after the decision, so a request that
 * loses a race never signs for nothing. A retired token presented inside the grace window
 * gets the family's live token set, whichever generation that is by now, with the
 * lifetimes that remain: a lost response or tabs racing never sign anyone out.
 *
 * `dpopJkt` is the key thumbprint of the request's DPoP proof (checked by the caller). A
 * family bound to a key is redeemed only with a proof of that key: without one, or with
 * another key's, the token is refused with the same `invalid_grant` as an unknown one, the
 * family untouched (see `decideRedemption`). The access token is bound to the proof's key
 * (`token_type: DPoP`); a bearer family stays unbound even when a proof comes: binding it
 * then would hand the session to whoever refreshes first with a key, a thief included.
 */
export async function refreshGrant(
  context: GrantContext,
  params: Map<string, string>,
  clientId: string,
  dpopJkt?: string,
): Promise<string> {
  const presented = params.get('refresh_token');
  if (presented === undefined) throw invalidRequest('The refresh_token parameter is required.');
  if (!looksLikeRefreshToken(presented)) {
    context.record('refresh_token', 'invalid', { reason: 'malformed token' });
    throw refused();
  }
  const now = context.now();
  let childToken: string | undefined;
  const result = await context.repository.redeemRefreshToken({
    tokenHash: hashRefreshToken(presented),
    clientId,
    now,
    graceMs: context.settings.refreshGraceSeconds * 1000,
    refreshTtlMs: context.settings.refreshTokenTtlSeconds * 1000,
    dpopJkt,
    prepareChild() {
      childToken = generateRefreshToken();
      return { tokenHash: hashRefreshToken(childToken), sealed: sealChild(presented, childToken) };
    },
  });

  if (result.outcome === 'invalid' && result.family === undefined) {
    context.record('refresh_token', 'invalid', { reason: result.reason });
    throw refused();
  }
  // The family vouches for its own client; the presented client_id may be anything.
  const family = result.family!;
  const details = { clientId: family.clientId, familyId: family.id, userId: family.userId };
  switch (result.outcome) {
    case 'rotated':
      context.record('refresh_token', 'rotated', details);
      return tokenResponse(
        context,
        family,
        now,
        { token: childToken!, expiresAt: result.child.expiresAt },
        { dpopJkt },
      );
    case 'replayed': {
      const live = liveLink(presented, result.chain);
      if (live === undefined) {
        context.record('refresh_token', 'invalid', { ...details, reason: 'replay chain broken' });
        throw refused();
      }
      context.record('refresh_token', 'replayed', details);
      return tokenResponse(context, family, now, { token: live.token, expiresAt: live.link.expiresAt }, { dpopJkt });
    }
    case 'reuse-detected':
      context.record('refresh_token', 'reuse-detected', {
        ...details,
        reason: 'rotated token reused after grace window',
      });
      throw refused();
    default:
      context.record('refresh_token', result.outcome, { ...details, reason: result.reason });
      throw refused();
  }
}
