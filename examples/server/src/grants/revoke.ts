import { hashRefreshToken, looksLikeRefreshToken } from '../crypto/refresh-token.ts';
import { invalidRequest } from '../http/errors.ts';
import type { GrantContext } from './context.ts';

/**
 * RFC 7009 revocation. Revoking any refresh token of a family revokes the whole family
 * (every generation, and the grace replays). Unknown tokens, access tokens and tokens of
 * another client get the same 200 (RFC 7009 section 2.2), so the endpoint reveals nothing.
 * `token_type_hint` is accepted and ignored: only refresh tokens are revocable here (access
 * tokens are short-lived JWTs). Enrolled device keys are kept: see `revokeUserSessions`.
 *
 * A DPoP-bound family is revoked only with a proof of its key (`dpopJkt`, checked by the
 * caller): whoever holds a stolen bound token but not the key cannot end the session of the
 * one who holds both. Without the key the answer is the same 200, and nothing changes.
 */
export async function revoke(
  context: GrantContext,
  params: Map<string, string>,
  clientId: string | undefined,
  dpopJkt?: string,
): Promise<void> {
  const token = params.get('token');
  if (token === undefined) throw invalidRequest('The token parameter is required.');
  if (!looksLikeRefreshToken(token)) {
    context.record('revoke', 'invalid', { reason: 'not a refresh token' });
    return;
  }
  const tokenHash = hashRefreshToken(token);
  const found = await context.repository.findRefreshToken(tokenHash);
  if (!found || (clientId !== undefined && found.family.clientId !== clientId)) {
    context.record(
      'revoke',
      'invalid',
      found
        ? { clientId: found.family.clientId, familyId: found.family.id, reason: 'client mismatch' }
        : { reason: 'unknown token' },
    );
    return;
  }
  if (found.family.dpopJkt !== null && found.family.dpopJkt !== dpopJkt) {
    context.record('revoke', 'invalid', {
      clientId: found.family.clientId,
      familyId: found.family.id,
      reason: dpopJkt === undefined ? 'dpop proof missing' : 'dpop key mismatch',
    });
    return;
  }
  await context.repository.revokeFamilyOfToken(tokenHash, context.now(), 'revoked by client');
  context.record('revoke', 'revoked', {
    clientId: found.family.clientId,
    familyId: found.family.id,
    userId: found.family.userId,
  });
}
