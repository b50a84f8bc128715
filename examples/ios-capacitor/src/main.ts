/**
 * The example app: a Capacitor iOS app that keeps its user signed in with session-keeper.
 * The SDK gets the host's platform through its ports: the Keychain as `TokenStore`, Face ID
 * with a device key as `BiometricProvider`, `@capacitor/app` as the lifecycle signal. Everything
 * else here is the app's own UI.
 */
import { BiometricAuth, BiometryError } from '@aparajita/capacitor-biometric-auth';
import { Capacitor } from '@capacitor/core';
import { SessionManager, StoreError, type ReauthReason, type SignOutReason, type TokenResponse } from 'session-keeper';
import { dpop } from 'session-keeper/dpop';
import { createAppLifecycle } from './adapters/app-lifecycle.ts';
import { biometryName, createBiometricProvider, simulateBiometryOnWeb } from './adapters/biometric-provider.ts';
import {
  generateDeviceKeyPair,
  indexedDbDeviceKeyStore as deviceKeys,
  type DeviceKeyPair,
} from './adapters/device-key.ts';
import { createKeychainTokenStore } from './adapters/keychain-token-store.ts';
import { dpopKeyOption } from './adapters/secure-enclave-dpop.ts';
import { advertisedTokenEndpoint, login, SignInError, type LoginResponse } from './auth-api.ts';
import { readConfig } from './config.ts';
import { ActivityLog } from './ui/activity-log.ts';
import { byId, credentials, query, setFields, showError, showScreen } from './ui/dom.ts';
import { formatTime } from './ui/format.ts';
import { SessionPanel } from './ui/session-panel.ts';

interface Profile {
  sub: string;
  username: string;
  session_id?: string;
}

const REAUTH_MESSAGES: Record<ReauthReason, string> = {
  refreshRejected: 'Your session was ended on the server. Sign in again to continue where you left off.',
  refreshTokenExpired: 'You have been away for a while. Sign in again to continue.',
  sessionEnded: 'Your session reached its time limit. Sign in again to continue.',
  noRefreshToken: 'Sign in again to continue.',
};

const SIGNED_OUT_MESSAGES: Record<SignOutReason, string | null> = {
  user: null,
  reauthFailed: 'You were signed out because your session could not be renewed.',
  otherContext: 'You were signed out.',
};

async function main(): Promise<void> {
  const config = readConfig();
  if (Capacitor.getPlatform() === 'web') await simulateBiometryOnWeb(config.webBiometry);

  // Ports first: the lifecycle listener must be attached before the SDK relies on it.
  const [store, lifecycle] = await Promise.all([createKeychainTokenStore(), createAppLifecycle()]);

  const log = new ActivityLog(byId<HTMLOListElement>('log'));
  const banner = byId('banner');
  const setBanner = (text: string | null) => {
    banner.textContent = text ?? '';
    banner.hidden = text === null;
  };
  let currentUser: string | undefined;
  /** The token endpoint the server advertises, once read: the device-key assertion's `aud`. */
  let assertionAudience: string | undefined;
  /** The user passed Face ID and an assertion was signed in the re-authentication running now. */
  let assertionSigned = false;
  /**
   * The re-authentication went on past a signed assertion (to the sign-in sheet, or to a
   * sign-out): the server refused the device key. An admin's `revokeUserSessions` deletes it
   * there, and it will never be accepted again: forget it, rather than show Face ID for nothing
   * at every re-authentication. A new sign-in enrolls a new key.
   */
  const dropRefusedKey = async () => {
    if (!assertionSigned) return;
    assertionSigned = false;
    await deviceKeys.delete();
    log.add(
      'warn',
      'The server no longer accepts this device key: Face ID unlock turned off (sign in again to turn it on)',
    );
    await refreshBiometricLabel();
  };

  const biometric = createBiometricProvider({
    keys: deviceKeys,
    onPrompt: (username) => setBanner(`Confirm it’s you, ${username}, to stay signed in.`),
    onCancel: (error) => log.add('warn', `Biometric check not passed (${error.code || 'cancelled'})`),
    onAssertion: () => (assertionSigned = true),
    // What the server checks `aud` against; the SDK's own (the URL this app uses) when offline.
    audience: async (requested, signal) => {
      assertionAudience ??= (await advertisedTokenEndpoint(config.serverUrl, signal)) ?? undefined;
      return assertionAudience ?? requested;
    },
  });

  // DPoP: every token is bound to a P-256 key of this device. The key is WebCrypto in
  // IndexedDB (non-extractable), unless the app registers the native Secure Enclave plugin
  // (see src/adapters/secure-enclave-dpop.ts). The sign-in requests carry a proof from it.
  const keyOption = dpopKeyOption();
  const proofs = config.dpop ? dpop(keyOption) : undefined;
  const dpopKeyKind = keyOption.signer ? 'Secure Enclave' : 'WebCrypto, IndexedDB';

  const session = new SessionManager({
    tokenEndpoint: config.tokenEndpoint,
    revocationEndpoint: config.revocationEndpoint,
    clientId: config.clientId,
    allowInsecureHttp: config.allowInsecureHttp, // a dev server on the LAN; off for https
    store,
    persistAccessToken: false, // the refresh token in the Keychain, the access token in memory
    lifecycle,
    biometric,
    signInPrompt: (reason) => promptSignIn(reason),
    ...(proofs ? { dpop: proofs } : {}),
  });
  const api = session.createClient({ prefix: config.apiPrefix, timeout: 20_000 });
  const panel = new SessionPanel(session, byId('screen-home'), byId('state'));

  // ---- the SDK's events -> the activity log and the screens ----
  session.on('stateChange', () => panel.render());
  session.on('tokensChanged', ({ cause: source, accessTokenExpiresAt }) => {
    const until = accessTokenExpiresAt === null ? '' : `, valid until ${formatTime(accessTokenExpiresAt)}`;
    const what = {
      signIn: 'Signed in',
      refresh: 'Access token refreshed silently',
      biometric: 'New session from the device key',
      signInPrompt: 'New session from the sign-in prompt',
      otherContext: 'Tokens updated elsewhere',
      restore: 'Session restored from the Keychain',
    }[source];
    log.add(source === 'refresh' ? 'refresh' : 'auth', `${what}${until}`);
    panel.render();
  });
  session.on('refreshFailed', ({ attempt, retryInMs }) =>
    log.add('warn', `Refresh failed (attempt ${attempt}); retrying in ${Math.ceil(retryInMs / 1000)}s`),
  );
  session.on('reauthRequired', ({ reason }) => {
    log.add('warn', `Refresh token no longer accepted (${reason}): re-authentication needed`);
    setBanner('Your session needs to be confirmed…');
  });
  session.on('reauthenticated', ({ method }) => {
    biometric.reauthenticationEnded();
    if (method === 'biometric') assertionSigned = false;
    else void dropRefusedKey();
    log.add('auth', method === 'biometric' ? 'Re-authenticated with biometrics' : 'Re-authenticated with password');
    setBanner(null);
    void loadProfile();
  });
  session.on('sessionExpiring', ({ remainingMs }) =>
    setBanner(`Your session ends in ${Math.ceil(remainingMs / 60_000)} min: you will be asked to sign in again.`),
  );
  session.on('signedOut', ({ reason }) => {
    biometric.reauthenticationEnded();
    // A sign-out the user chose is no verdict on the key (the sign-out deletes it anyway).
    if (reason === 'user') assertionSigned = false;
    else void dropRefusedKey();
    setBanner(null);
    showSignIn(SIGNED_OUT_MESSAGES[reason]);
  });
  lifecycle.onChange((isActive) => {
    log.add('lifecycle', isActive ? 'App back in the foreground: token checked' : 'App moved to the background');
    panel.render();
  });
  setInterval(() => panel.render(), 1000);

  // ---- screens ----
  const signInForm = byId<HTMLFormElement>('signin-form');
  const offer = byId('screen-offer');
  const home = byId('screen-home');
  const sheet = byId<HTMLDialogElement>('signin-sheet');
  const sheetForm = query<HTMLFormElement>(sheet, 'form');

  function showSignIn(notice: string | null): void {
    const line = byId('signin-notice');
    line.textContent = notice ?? '';
    line.hidden = notice === null;
    signInForm.reset();
    showError(signInForm, null);
    showScreen('screen-signin');
  }

  async function refreshDpopLabel(): Promise<void> {
    if (!proofs) return panel.setDpopKey('off (bearer tokens)');
    try {
      panel.setDpopKey(`${dpopKeyKind} · …${(await proofs.thumbprint()).slice(-8)}`);
    } catch (error) {
      panel.setDpopKey(`${dpopKeyKind} · unavailable (${(error as Error).message})`);
    }
  }

  async function refreshBiometricLabel(): Promise<void> {
    const [name, key] = await Promise.all([biometryName(), deviceKeys.load()]);
    panel.setBiometric(key && name ? `On (${name})` : name ? 'Off' : 'Not available');
  }

  /** Loads `/api/me` through the session's ky client (a 401 there refreshes and retries once). */
  async function loadProfile(): Promise<Profile | null> {
    try {
      const me = await api.get('me').json<Profile>();
      currentUser = me.username;
      setFields(home, {
        username: me.username,
        sub: me.sub,
        session_id: me.session_id ?? '–',
        loadedAt: formatTime(Date.now()),
      });
      showError(home, null);
      return me;
    } catch (error) {
      showError(home, `Could not load the profile: ${(error as Error).message}`);
      return null;
    }
  }

  async function showHome(): Promise<void> {
    showScreen('screen-home');
    panel.render();
    await Promise.all([loadProfile(), refreshBiometricLabel(), refreshDpopLabel()]);
  }

  signInForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      const button = query<HTMLButtonElement>(signInForm, 'button[type="submit"]');
      button.disabled = true;
      showError(signInForm, null);
      try {
        const { username, password } = credentials(signInForm);
        // Enroll a device key with this sign-in when the device has biometrics; it is only
        // kept if the user accepts the offer that follows.
        const name = await biometryName();
        const pair = name ? await generateDeviceKeyPair() : null;
        const response = await login(
          config.loginEndpoint,
          { username, password, clientId: config.clientId, ...(pair ? { devicePublicJwk: pair.publicJwk } : {}) },
          proofs,
        );
        await deviceKeys.delete(); // a new sign-in replaces any earlier key
        await session.setTokens(response);
        log.clear();
        log.add('auth', `Signed in as ${username}`);
        const me = pair && name && response.device_key_id ? await loadProfile() : null;
        if (pair && name && me) {
          showOffer(name, pair, response, me);
        } else {
          await showHome();
        }
      } catch (error) {
        showError(
          signInForm,
          error instanceof SignInError ? error.message : `Sign-in failed: ${(error as Error).message}`,
        );
      } finally {
        button.disabled = false;
      }
    })();
  });

  /** The biometric offer after a sign-in that enrolled a key: keep the key, or throw it away. */
  function showOffer(name: string, pair: DeviceKeyPair, response: LoginResponse, me: Profile): void {
    for (const element of offer.querySelectorAll('[data-role="biometry"]')) element.textContent = name;
    showError(offer, null);
    showScreen('screen-offer');
    const enable = query<HTMLButtonElement>(offer, '[data-action="enable"]');
    const skip = query<HTMLButtonElement>(offer, '[data-action="skip"]');
    const done = async (keep: boolean) => {
      enable.onclick = skip.onclick = null;
      if (keep && response.device_key_id) {
        await deviceKeys.save({
          privateKey: pair.privateKey,
          keyId: response.device_key_id,
          subject: me.sub,
          username: me.username,
          enrolledAt: Date.now(),
        });
        log.add('auth', `${name} unlock turned on for this device`);
      }
      await showHome();
    };
    enable.onclick = () =>
      void (async () => {
        try {
          // The first prompt is also when iOS asks the user to allow Face ID for this app.
          await BiometricAuth.authenticate({
            reason: `Turn on ${name} to stay signed in`,
            allowDeviceCredential: false,
          });
          await done(true);
        } catch (error) {
          showError(
            offer,
            error instanceof BiometryError
              ? `${name} was not confirmed. Try again, or choose “Not now”.`
              : `${name} could not be turned on: ${(error as Error).message}`,
          );
        }
      })();
    skip.onclick = () => void done(false);
  }

  /** The SDK's `signInPrompt`: a sheet over the current screen; `null` when the user cancels. */
  function promptSignIn(reason: ReauthReason): Promise<TokenResponse | null> {
    setBanner(null);
    sheetForm.reset();
    showError(sheetForm, null);
    query(sheet, '[data-role="reason"]').textContent = REAUTH_MESSAGES[reason];
    if (currentUser) query<HTMLInputElement>(sheetForm, 'input[name="username"]').value = currentUser;
    sheet.showModal();
    return new Promise((resolve) => {
      const finish = (response: TokenResponse | null) => {
        sheetForm.onsubmit = null;
        query(sheet, '[data-action="cancel"]').onclick = null;
        sheet.close();
        resolve(response);
      };
      sheetForm.onsubmit = (event) => {
        event.preventDefault();
        void (async () => {
          const { username, password } = credentials(sheetForm);
          try {
            const response = await login(
              config.loginEndpoint,
              { username, password, clientId: config.clientId },
              proofs,
            );
            const key = await deviceKeys.load();
            if (key && key.username !== username) await deviceKeys.delete(); // another user's key
            finish(response);
          } catch (error) {
            showError(sheetForm, error instanceof SignInError ? error.message : (error as Error).message);
          }
        })();
      };
      query(sheet, '[data-action="cancel"]').onclick = () => finish(null);
      sheet.oncancel = (event) => {
        event.preventDefault(); // Escape: treat like Cancel, through one path
        finish(null);
      };
    });
  }

  for (const [action, run] of Object.entries({
    reload: () => loadProfile(),
    refresh: async () => {
      await session.refresh();
      await loadProfile();
    },
    signout: async () => {
      await session.signOut(); // revokes the refresh token and clears the Keychain item
      await deviceKeys.delete();
      log.clear();
    },
  })) {
    query<HTMLButtonElement>(home, `[data-action="${action}"]`).addEventListener('click', () => {
      run().catch((error: unknown) => log.add('warn', `${action} failed: ${(error as Error).message}`));
    });
  }

  // ---- launch: restore the Keychain session (one refresh, as the access token was in memory) ----
  // A Keychain that cannot be read (the device is locked: the app was launched in the
  // background, or the phone locked during launch) is not an empty one: restore() rejects with
  // StoreError and the session stays in the Keychain. Try again when the app is next active.
  const loadingNotice = byId('loading-notice');
  const stopRetrying = lifecycle.onChange((isActive) => {
    if (isActive && !loadingNotice.hidden) {
      launch().catch((error: unknown) => fail(error));
    }
  });
  let restoring = false;
  async function launch(): Promise<void> {
    if (restoring) return;
    restoring = true;
    try {
      const state = await session.restore();
      stopRetrying();
      loadingNotice.hidden = true;
      if (state === 'signedOut') showSignIn(null);
      else await showHome();
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      log.add(
        'warn',
        `The Keychain could not be read (${(error.cause as Error | undefined)?.message ?? error.message})`,
      );
      loadingNotice.textContent =
        'Your session is kept in the Keychain, which cannot be read right now. Unlock your iPhone and open the app again.';
      loadingNotice.hidden = false;
    } finally {
      restoring = false;
    }
  }
  await launch();
}

function fail(error: unknown): void {
  document.body.textContent = `The app failed to start: ${(error as Error).message}`;
}

main().catch(fail);
