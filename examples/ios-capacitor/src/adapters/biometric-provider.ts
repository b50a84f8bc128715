import { BiometricAuth, BiometryError, BiometryType } from '@aparajita/capacitor-biometric-auth';
import { createDeviceKeyAssertion, type AssertionRequest, type BiometricProvider } from 'session-keeper';
import type { DeviceKeyStore } from './device-key.ts';

/** Options of {@link createBiometricProvider}. */
export interface BiometricProviderOptions {
  keys: DeviceKeyStore;
  /** Called just before the system prompt shows, so the app can say why it appears. */
  onPrompt?: (username: string) => void;
  /** Called when the prompt was cancelled or failed (the SDK falls back to the sign-in prompt). */
  onCancel?: (error: BiometryError) => void;
  /**
   * Called once the user passed the prompt (or passed it moments ago, see below) and an
   * assertion was signed: the app can then tell a refused key from a declined prompt.
   */
  onAssertion?: () => void;
  /**
   * The `aud` to sign, given the one the SDK asks for (the token endpoint it was given).
   * Default: the SDK's. The app passes the token endpoint the server advertises, which is what
   * the server checks.
   */
  audience?: (requested: string, signal: AbortSignal) => Promise<string>;
  /**
   * How long a passed prompt stands for retries of the same re-authentication (ms). Default
   * 2 minutes. The SDK runs the chain again after each network failure of the device-key
   * exchange (offline: five runs in ~15 s); without this, each run would show Face ID again.
   */
  promptReuseMs?: number;
}

/** The provider, plus the hook that ends a re-authentication's reuse of a passed prompt. */
export interface AppBiometricProvider extends BiometricProvider {
  /**
   * The re-authentication is over (the SDK's `reauthenticated` or `signedOut`): the next one
   * asks again, however recent the last prompt.
   */
  reauthenticationEnded(): void;
}

/** See {@link BiometricProviderOptions.promptReuseMs}. */
const PROMPT_REUSE_MS = 120_000;

/**
 * session-keeper's `BiometricProvider` on `@aparajita/capacitor-biometric-auth`.
 *
 * When the refresh token is dead, the SDK asks for an RFC 7523 assertion: this shows the
 * Face ID / Touch ID prompt and, once the user passed it, signs the assertion with the device
 * key enrolled at sign-in. A cancelled or failed prompt returns `null`, and the SDK moves on to
 * the app's sign-in prompt. While the device-key exchange cannot reach the server, the SDK runs
 * the chain again after each backoff: within two minutes of a passed prompt, those retries of the
 * same re-authentication sign a fresh assertion without asking again.
 *
 * What the gate is: the prompt is an app-level check. The private key is non-extractable, but
 * it sits in IndexedDB, not behind the biometric hardware: code running in the WebView could ask
 * it to sign without a prompt. The README explains what a Secure Enclave key would add.
 */
export function createBiometricProvider(options: BiometricProviderOptions): AppBiometricProvider {
  const { keys, promptReuseMs = PROMPT_REUSE_MS } = options;
  /** The prompt passed in the re-authentication running now: when, and for which key. */
  let passed: { at: number; keyId: string } | undefined;
  return {
    reauthenticationEnded() {
      passed = undefined;
    },

    async isAvailable(): Promise<boolean> {
      const [biometry, key] = await Promise.all([BiometricAuth.checkBiometry(), keys.load()]);
      return biometry.isAvailable && key !== null;
    },

    async getAssertion(request: AssertionRequest): Promise<string | null> {
      const key = await keys.load();
      if (!key) return null;
      // A key enrolled for someone else cannot vouch for this session.
      if (request.subject !== undefined && request.subject !== key.subject) return null;
      // A retry of the re-authentication the user just confirmed: no second prompt. The
      // assertion below is still a fresh one (new `jti`, new 60-second lifetime).
      const reuse = passed !== undefined && passed.keyId === key.keyId && Date.now() - passed.at < promptReuseMs;
      if (!reuse) {
        passed = undefined;
        options.onPrompt?.(key.username);
        try {
          await BiometricAuth.authenticate({
            reason: `Confirm it's you to stay signed in as ${key.username}`,
            cancelTitle: 'Use password',
            // Face ID or Touch ID only: the device passcode is a weaker factor for this purpose.
            allowDeviceCredential: false,
            iosFallbackTitle: '',
          });
        } catch (error) {
          if (error instanceof BiometryError) {
            options.onCancel?.(error);
            return null;
          }
          throw error;
        }
        passed = { at: Date.now(), keyId: key.keyId };
      }
      const audience = options.audience ? await options.audience(request.audience, request.signal) : request.audience;
      const assertion = await createDeviceKeyAssertion(key.privateKey, key.keyId, {
        audience,
        clientId: request.clientId,
        subject: key.subject,
      });
      options.onAssertion?.();
      return assertion;
    },
  };
}

/** Which biometry this device offers, for the UI ("Face ID", "Touch ID"), or `null`. */
export async function biometryName(): Promise<string | null> {
  const result = await BiometricAuth.checkBiometry();
  if (!result.isAvailable) return null;
  if (result.biometryType === BiometryType.faceId) return 'Face ID';
  if (result.biometryType === BiometryType.touchId) return 'Touch ID';
  return 'biometrics';
}

/**
 * Web preview only: the plugin's web fallback has no biometry until told to pretend. Its
 * prompt is then a `window.confirm` dialog (OK = recognised, Cancel = cancelled).
 */
export async function simulateBiometryOnWeb(type: 'faceId' | 'touchId' | 'none'): Promise<void> {
  if (type === 'none') return;
  await BiometricAuth.setBiometryType(type === 'faceId' ? BiometryType.faceId : BiometryType.touchId);
  await BiometricAuth.setBiometryIsEnrolled(true);
  await BiometricAuth.setDeviceIsSecure(true);
}
