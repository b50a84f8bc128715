import type { TokenResponse } from 'session-keeper';
import type { Dpop } from 'session-keeper/dpop';

/** The reference server's first-party login answer: an RFC 6749 token response, plus extras. */
export interface LoginResponse extends TokenResponse {
  /** The enrolled device key's id (its RFC 7638 thumbprint), when a key was sent. */
  device_key_id?: string;
}

type LoginBody = LoginResponse & { error?: string; error_description?: string };

/** A sign-in the server refused, with a message fit for the user. */
export class SignInError extends Error {
  override readonly name = 'SignInError';
}

/**
 * Signs in with a username and password (the server's `POST /auth/login`), optionally
 * enrolling a device public key for biometric re-authentication later. With `dpop` (the
 * session's DPoP handle), the request carries a proof, so the server binds the new tokens to
 * the session's key; a `use_dpop_nonce` answer is signed again once with the server's nonce.
 * @throws SignInError - wrong credentials, or the server could not be reached
 */
export async function login(
  loginEndpoint: string,
  request: { username: string; password: string; clientId: string; devicePublicJwk?: JsonWebKey },
  dpop?: Pick<Dpop, 'proof' | 'observe'>,
): Promise<LoginResponse> {
  const send = async (): Promise<{ response: Response; body: LoginBody | null }> => {
    const proof = await dpop?.proof('POST', loginEndpoint);
    let response: Response;
    try {
      response = await fetch(loginEndpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          ...(proof === undefined ? {} : { dpop: proof }),
        },
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
    dpop?.observe(loginEndpoint, response); // the server's nonce and clock
    return { response, body: (await response.json().catch(() => null)) as LoginBody | null };
  };
  let { response, body } = await send();
  if (dpop && response.status === 400 && body?.error === 'use_dpop_nonce') ({ response, body } = await send());
  if (dpop && response.status === 400 && body?.error === 'invalid_dpop_proof') {
    // Most often a development server that calls itself by another name (0.0.0.0, 127.0.0.1)
    // than the app reaches it at: proofs name the URL the app uses, the server checks its own.
    const issuer = await advertisedIssuer(new URL(loginEndpoint).origin);
    if (issuer !== null && issuer !== new URL(loginEndpoint).origin) {
      throw new SignInError(
        `The server calls itself ${issuer}, but this app reaches it at ${new URL(loginEndpoint).origin}: DPoP proofs name the URL the app uses. Start the server with ISSUER=${new URL(loginEndpoint).origin}.`,
      );
    }
  }
  if (!response.ok || !body || typeof body.access_token !== 'string') {
    if (response.status === 401) throw new SignInError('The username or password is incorrect.');
    if (response.status === 429) throw new SignInError('Too many attempts. Wait a minute and try again.');
    throw new SignInError(body?.error_description ?? `Sign-in failed (HTTP ${response.status}).`);
  }
  return body;
}

/**
 * The token endpoint the server names in its RFC 8414 metadata
 * (`/.well-known/oauth-authorization-server`): the `aud` it checks device-key assertions
 * against. The URL this app reaches the server at can be another name for the same server
 * (`localhost` for `127.0.0.1`, the Mac's LAN address for a server that calls itself
 * `0.0.0.0`): an assertion addressed to that name would be refused although Face ID passed.
 * The metadata comes from the server the assertion goes to, so this widens nothing. (The SDK's
 * `discoverEndpoints` is not used here on purpose: it rejects exactly such a name mismatch, and
 * plain HTTP to a LAN address.) `null` when the metadata cannot be read (offline).
 */
export async function advertisedTokenEndpoint(serverUrl: string, signal?: AbortSignal): Promise<string | null> {
  const tokenEndpoint = (await metadata(serverUrl, signal))?.token_endpoint;
  return typeof tokenEndpoint === 'string' && URL.canParse(tokenEndpoint) ? tokenEndpoint : null;
}

/** The origin of the issuer the server names in its metadata; `null` when it cannot be read. */
async function advertisedIssuer(serverUrl: string): Promise<string | null> {
  const issuer = (await metadata(serverUrl))?.issuer;
  return typeof issuer === 'string' && URL.canParse(issuer) ? new URL(issuer).origin : null;
}

/** The server's RFC 8414 metadata, or `null` (offline, not JSON). */
async function metadata(
  serverUrl: string,
  signal?: AbortSignal,
): Promise<{ issuer?: unknown; token_endpoint?: unknown } | null> {
  try {
    const response = await fetch(`${serverUrl}/.well-known/oauth-authorization-server`, {
      headers: { accept: 'application/json' },
      ...(signal ? { signal } : {}),
    });
    if (!response.ok) return null;
    return (await response.json()) as { issuer?: unknown; token_endpoint?: unknown } | null;
  } catch {
    return null;
  }
}
