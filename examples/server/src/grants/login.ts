import { parseDevicePublicJwk, DeviceKeyError } from '../crypto/device-key.ts';
import { invalidRequest, OAuthError } from '../http/errors.ts';
import { DeviceKeyConflictError, type DeviceKeyRecord } from '../storage/repository.ts';
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
 * same 401 body).
 */
export async function login(context: GrantContext, body: Record<string, unknown>, clientId: string): Promise<string> {
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
  try {
    context.failedLogins.check(account);
  } catch (error) {
    context.record('login', 'rate-limited', { clientId, reason: 'too many failed logins for the account' });
    throw error;
  }
  const user = await context.repository.findUserByUsername(username);
  const valid = await context.passwords.verify(password, user?.passwordHash);
  if (!user || !valid) {
    context.failedLogins.add(account);
    context.record('login', 'invalid', { clientId, reason: 'bad credentials' });
    throw new OAuthError(401, 'invalid_grant', 'The username or password is incorrect.');
  }

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
    const { family, body: response } = await startSession(
      context,
      deviceKey ? { userId: user.id, clientId, origin: 'login', deviceKey } : { userId: user.id, clientId, origin: 'login' },
    );
    context.record('login', 'issued', { familyId: family.id, clientId, userId: user.id });
    return response;
  } catch (error) {
    if (error instanceof DeviceKeyConflictError) {
      context.record('login', 'rejected', { clientId, userId: user.id, reason: 'device key conflict' });
      throw invalidRequest('This device key is already enrolled for another account.');
    }
    throw error;
  }
}
