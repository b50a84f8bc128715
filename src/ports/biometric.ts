import type { ReauthReason } from '../types.ts';

/** What the session manager asks a {@link BiometricProvider} to sign. */
export interface AssertionRequest {
  /** The token endpoint: the assertion's `aud`. */
  audience: string;
  /** The OAuth client: the assertion's `iss`. */
  clientId: string;
  /** The user (the last access token's `sub`), when known: the assertion's `sub`. */
  subject: string | undefined;
  reason: ReauthReason;
  /** Aborts when the assertion is no longer needed (the session ended or was replaced). */
  signal: AbortSignal;
}

/**
 * Biometric re-authentication with a device-bound key. When the refresh token is dead, the
 * provider shows the biometric prompt (Face ID, Touch ID, ...), which unlocks a key enrolled at
 * sign-in; the key signs a short-lived JWT assertion, and the session manager exchanges it at
 * the token endpoint with the RFC 7523 grant
 * (`urn:ietf:params:oauth:grant-type:jwt-bearer`). See {@link createDeviceKeyAssertion}.
 */
export interface BiometricProvider {
  /** Whether biometrics and an enrolled key are usable now. */
  isAvailable(): Promise<boolean>;
  /**
   * Prompts the user and returns the signed assertion, or `null` when the user cancelled or
   * the prompt failed: the chain then falls through to the sign-in prompt.
   */
  getAssertion(request: AssertionRequest): Promise<string | null>;
}
