import { parseDevicePublicJwk, DeviceKeyError } from '../crypto/device-key.ts';
import { hasControlCharacter } from '../http/body.ts';
import { invalidRequest, OAuthError } from '../http/errors.ts';
import { DeviceKeyConflictError, SessionsRevokedError, type DeviceKeyRecord } from '../storage/repository.ts';
import type { GrantContext } from './context.ts';
import { startSession } from './token-response.ts';

function field(body: Record<string, unknown>, name: string, maxLength: number): string {
  const value = body[name];
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw invalidRequest(`${name} must be a non-empty string of at most ${maxLength} characters.`);
  }
  return value;
}

/**
 * First-party sign-in: `{ username, password, client_id, device_public_jwk? }`. Starts a
 * new token family. Wrong user and wrong password are indistinguishable (same scrypt work,
 * same 401 body); a username with control characters is an unknown user (it is never
 * looked up: PostgreSQL refuses U+0000 in text).
 *
 * Every attempt counts against the account's failed-login budget *before* the password
 * is hashed, and a success gives its slot back: a burst of parallel guesses cannot all pass
 * the check while the first ones are still hashing. Password checks are bounded
 * (`passwordChecks`): past the bound a sign-in gets 503 with `Retry-After` at once, and
 * does not count as a failure.
 *
 * With `dpopJkt` (the request's DPoP proof key, checked by the caller before any password
 * work) the new family and its access tokens are bound to that key.
 */
export async function login(
  context: GrantContext,
  body: Record<string, unknown>,
  clientId: string,
  dpopJkt?: string,
): Promise<string> {
  const username = field(body, 'username', 256);
  const password = field(body, 'password', 1024);
  let device: { jwk: object; thumbprint: string } | undefined;
  if (body.device_public_jwk !== undefined) {
    try {
      device = await parseDevicePublicJwk(body.device_public_jwk);
    } catch (error) {
      if (error instanceof DeviceKeyError) throw invalidRequest(`${error.message}.`);
      throw error;
    }
  }

  const account = username.toLowerCase();
  let release: () => void;
  try {
    release = context.failedLogins.reserve(account);
  } catch (error) {
    context.record('login', 'rate-limited', { reason: 'too many failed logins for the account' });
    throw error;
  }
  let user: Awaited<ReturnType<typeof context.repository.findUserByUsername>>;
  let valid: boolean;
  try {
    ({ user, valid } = await context.passwordChecks.run(async () => {
      const found = hasControlCharacter(username) ? undefined : await context.repository.findUserByUsername(username);
      return { user: found, valid: await context.passwords.verify(password, found?.passwordHash) };
    }));
  } catch (error) {
    // Refused before the password was checked: the attempt does not count as a failure.
    release();
    if (error instanceof OAuthError && error.status === 503) {
      context.record('login', 'rejected', { reason: 'too many password checks at once' });
    }
    throw error;
  }
  if (!user || !valid) {
    // The reserved slot stays taken: this was a failed sign-in.
    context.record('login', 'invalid', { reason: 'bad credentials' });
    throw new OAuthError(401, 'invalid_grant', 'The username or password is incorrect.');
  }
  release();

  let deviceKey: DeviceKeyRecord | undefined;
  if (device) {
    deviceKey = {
      thumbprint: device.thumbprint,
      userId: user.id,
      clientId,
      publicJwk: JSON.stringify(device.jwk),
      createdAt: context.now(),
    };
  }
  try {
    // The generation read with the password hash: if the user's sessions are revoked
    // between the check and now, the session is refused rather than outliving them.
    const start = {
      userId: user.id,
      clientId,
      origin: 'login',
      sessionGeneration: user.sessionGeneration,
      dpopJkt,
    } as const;
    const { family, body: response } = await startSession(context, deviceKey ? { ...start, deviceKey } : start);
    context.record('login', 'issued', { familyId: family.id, clientId, userId: user.id });
    return response;
  } catch (error) {
    if (error instanceof DeviceKeyConflictError) {
      context.record('login', 'rejected', { userId: user.id, reason: 'device key conflict' });
      throw invalidRequest('This device key is already enrolled for another account.');
    }
    if (error instanceof SessionsRevokedError) {
      context.record('login', 'rejected', { userId: user.id, reason: 'sessions revoked during sign-in' });
      throw new OAuthError(401, 'invalid_grant', "The account's sessions were revoked during sign-in; sign in again.");
    }
    throw error;
  }
}
