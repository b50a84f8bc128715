import type { TokenResponse } from 'session-keeper';

/** The reference server's first-party login answer: an RFC 6749 token response, plus extras. */
export interface LoginResponse extends TokenResponse {
  /** The enrolled device key's id (its RFC 7638 thumbprint), when a key was sent. */
  device_key_id?: string;
}

/** A sign-in the server refused, with a message fit for the user. */
export class SignInError extends Error {
  override readonly name = 'SignInError';
}

/**
 * Signs in with a username and password (the server's `POST /auth/login`), optionally
 * enrolling a device public key for biometric re-authentication later.
 * @throws SignInError - wrong credentials, or the server could not be reached
 */
export async function login(
  loginEndpoint: string,
  request: { username: string; password: string; clientId: string; devicePublicJwk?: JsonWebKey },
): Promise<LoginResponse> {
  let response: Response;
  try {
    response = await fetch(loginEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        username: request.username,
        password: request.password,
        client_id: request.clientId,
        ...(request.devicePublicJwk ? { device_public_jwk: request.devicePublicJwk } : {}),
      }),
    });
  } catch {
    throw new SignInError('The server cannot be reached. Check your connection and try again.');
  }
  const body = (await response.json().catch(() => null)) as (LoginResponse & { error?: string; error_description?: string }) | null;
  if (!response.ok || !body || typeof body.access_token !== 'string') {
    if (response.status === 401) throw new SignInError('The username or password is incorrect.');
    if (response.status === 429) throw new SignInError('Too many attempts. Wait a minute and try again.');
    throw new SignInError(body?.error_description ?? `Sign-in failed (HTTP ${response.status}).`);
  }
  return body;
}
