/**
 * The app's own pieces that README blocks use without defining them: a sign-in screen, a
 * router, a login call. Blocks that run (see snippets.ts) get working ones, against the
 * reference server named by SNIPPET_AUTH_URL; the rest is declared for the compiler only.
 */
import type { ReauthReason, TokenResponse } from 'session-keeper';

const authUrl = process.env.SNIPPET_AUTH_URL ?? 'https://auth.example.com';
const clientId = process.env.SNIPPET_CLIENT_ID ?? 'my-app';

/** What the user typed into the sign-in screen. */
export interface Credentials {
  username: string;
  password: string;
}

export const username = 'alice';
export const password = 'secret';

/** The app's first-party login: POST /auth/login on the reference server. */
export async function login(credentials: Credentials): Promise<TokenResponse> {
  const response = await fetch(`${authUrl}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...credentials, client_id: clientId }),
  });
  if (!response.ok) throw new Error(`login failed: HTTP ${response.status}`);
  return (await response.json()) as TokenResponse;
}

/** The sign-in dialog; here the user always dismisses it. */
export async function showSignInDialog(
  _reason: ReauthReason,
  _options: { signal: AbortSignal },
): Promise<Credentials | null> {
  return null;
}

/** Where the app navigates (recorded, for the snippet runner's report). */
export const router = {
  visited: [] as string[],
  go(path: string, _state?: unknown): void {
    this.visited.push(path);
  },
};

export function warnUser(_remainingMs: number): void {}

export function render(_data: unknown): void {}

/** The clock the reference server is started with in examples/server/README.md. */
export const clock = { now: () => Date.now() };

// Compiled, never run: platform APIs of the iOS and Capacitor examples.
export declare const server: string;
export declare function promptSignIn(reason: ReauthReason): Promise<TokenResponse | null>;
export declare const BiometricAuth: { checkBiometry(): Promise<{ isAvailable: boolean }> };
export declare const deviceKey: { exists(): Promise<boolean>; privateKey(): Promise<CryptoKey>; id(): Promise<string> };
export declare function promptBiometric(): Promise<boolean>;
/** A native keystore's plugin, as the README's DPoP signer block uses it: bytes as JSON arrays. */
export declare const SecureKey: {
  getKey(): Promise<{ x: string; y: string } | null>;
  createKey(): Promise<{ x: string; y: string }>;
  sign(options: { data: number[] }): Promise<{ signature: number[] }>;
  deleteKey(): Promise<void>;
};
