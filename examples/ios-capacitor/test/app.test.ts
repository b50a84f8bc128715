/**
 * The example iOS app's web build in Chromium, against the reference server: what a user of
 * the app goes through, from sign-in to sign-out. The Keychain and Face ID are the plugins' web
 * fallbacks here (localStorage and a confirm dialog); the README says what only a device shows.
 */
import { calculateJwkThumbprint, decodeProtectedHeader } from 'jose';
import { existsSync } from 'node:fs';
import type { Locator, Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startServer, type RunningServer } from '../../server/src/index.ts';
import {
  SharedClock,
  answerNextDialog,
  exampleDir,
  distDir,
  launchApp,
  revokeWithAppKey,
  screenshot,
  serveStatic,
  setBackground,
} from './harness.ts';

const ACCESS_TOKEN_TTL_S = 600; // 10 minutes: the SDK refreshes halfway, 5 minutes in
const KEYCHAIN_ITEM = 'session-keeper_session'; // the secure-storage plugin's prefix + key

const clock = new SharedClock();
let server: RunningServer;
let app: { url: string; close(): Promise<void> };
let session: Awaited<ReturnType<typeof launchApp>> | undefined;
/** Servers a test started for itself (another issuer), closed after it. */
const extraServers: RunningServer[] = [];

beforeAll(async () => {
  if (!existsSync(`${exampleDir}/node_modules/@capacitor/core`)) {
    throw new Error('The example is not installed: run `npm ci --prefix examples/ios-capacitor` first');
  }
  // The test always runs the current sources: build the web layer as `npm run build` does.
  await build({ root: exampleDir, configFile: `${exampleDir}/vite.config.ts`, logLevel: 'warn' });
  server = await startServer({
    port: 0,
    databaseUrl: 'sqlite::memory:',
    accessTokenTtlSeconds: ACCESS_TOKEN_TTL_S,
    now: clock.now,
  });
  app = await serveStatic(distDir);
}, 60_000);

afterEach(async () => {
  // Requests still being forwarded (see `forward`) end with the page, quietly.
  await session?.page.unrouteAll({ behavior: 'ignoreErrors' });
  await session?.close();
  session = undefined;
  await Promise.all(extraServers.splice(0).map((extra) => extra.close()));
});

afterAll(async () => {
  await app?.close();
  await server?.close();
});

interface OpenAppOptions {
  /** The `?server=` parameter; `null` leaves it out (the app's default server URL). */
  server?: string | null;
  query?: Record<string, string>;
  /** Lets the test make the "Keychain" item unreadable, see {@link setKeychainLocked}. */
  lockableKeychain?: boolean;
  /** The page's requests to this URL go to that server instead (a host the test cannot listen on). */
  forward?: { from: string; to: RunningServer };
}

async function openApp({
  server: serverUrl = server.url,
  query = {},
  lockableKeychain = false,
  forward,
}: OpenAppOptions = {}): Promise<Page> {
  session = await launchApp(clock);
  const { page } = session;
  page.on('pageerror', (error) => console.error('page error:', error.message));
  if (forward) {
    await page.route(`${forward.from}/**`, async (route) => {
      const response = await route.fetch({ url: route.request().url().replace(forward.from, forward.to.url) });
      await route.fulfill({ response });
    });
  }
  if (lockableKeychain) {
    // On iOS the secure-storage plugin answers `null` for ANY Keychain error (the device is
    // locked: errSecInteractionNotAllowed; -34018 ...), as it does for a missing item. The web
    // fallback reads localStorage: make that read answer null while the test says so.
    await page.addInitScript((key) => {
      const getItem = Storage.prototype.getItem;
      Storage.prototype.getItem = function (this: Storage, name: string) {
        if (name === key && getItem.call(sessionStorage, 'test:keychain-locked') === '1') return null;
        return getItem.call(this, name);
      };
    }, KEYCHAIN_ITEM);
  }
  const params = new URLSearchParams(query);
  if (serverUrl !== null) params.set('server', serverUrl);
  await page.goto(`${app.url}/?${params}`);
  return page;
}

/** Locks or unlocks the "Keychain" of a page opened with `lockableKeychain`. */
async function setKeychainLocked(page: Page, locked: boolean): Promise<void> {
  await page.evaluate(
    (on) =>
      on ? sessionStorage.setItem('test:keychain-locked', '1') : sessionStorage.removeItem('test:keychain-locked'),
    locked,
  );
}

/** Starts another reference server that calls itself `issuer`, as `ISSUER=... npm run server` does. */
async function startServerCalled(issuer: string): Promise<RunningServer> {
  const started = await startServer({
    port: 0,
    issuer,
    databaseUrl: 'sqlite::memory:',
    accessTokenTtlSeconds: ACCESS_TOKEN_TTL_S,
    now: clock.now,
  });
  extraServers.push(started);
  return started;
}

const grants = (grant: string, outcome: string, from: RunningServer = server) =>
  from.grantLog.filter((entry) => entry.grant === grant && entry.outcome === outcome).length;

/** Waits for `expected`; fails at once, rather than at the timeout, when `instead` shows first. */
async function waitForUnless(expected: Locator, instead: Locator): Promise<void> {
  const shown = await Promise.race([
    expected.waitFor().then(() => 'expected'),
    instead.waitFor().then(() => 'instead'),
  ]);
  expect(shown, `${instead} showed instead of ${expected}`).toBe('expected');
}

const logLine = (page: Page, text: string) => page.locator('[data-testid="log"] li', { hasText: text }).first();

async function storedSession(page: Page): Promise<Record<string, unknown> | null> {
  const raw = await page.evaluate((key) => localStorage.getItem(key), KEYCHAIN_ITEM);
  return raw === null ? null : (JSON.parse(raw) as Record<string, unknown>);
}

/** Signs in as alice; `faceId` says whether to accept the offer (and its confirm dialog). */
async function signIn(page: Page, { faceId }: { faceId: boolean }): Promise<void> {
  const form = page.getByTestId('signin-form');
  await form.getByLabel('Username').fill('alice');
  await form.getByLabel('Password').fill('secret');
  await form.getByRole('button', { name: 'Sign in' }).click();
  const offer = page.getByTestId('screen-offer');
  await offer.waitFor();
  if (faceId) {
    const prompt = answerNextDialog(page, 'accept');
    await offer.getByRole('button', { name: 'Use Face ID' }).click();
    await prompt;
  } else {
    await offer.getByRole('button', { name: 'Not now' }).click();
  }
  await page.getByTestId('profile').getByText('alice').waitFor();
}

/** Revokes the refresh token the app holds, as the server would after a password change. */
/**
 * Ends the session on the server, as the app's own sign-out elsewhere would: an RFC 7009
 * revocation of the stored refresh token. The app's tokens are DPoP-bound, and the server
 * revokes a bound family only with a proof of its key, so the proof is signed in the page with
 * the app's key from IndexedDB (see {@link revokeWithAppKey}).
 */
async function revokeRefreshToken(page: Page, at: RunningServer = server): Promise<void> {
  const refreshToken = (await storedSession(page))?.refreshToken;
  expect(typeof refreshToken).toBe('string');
  const revoked = grants('revoke', 'revoked', at);
  const status = await revokeWithAppKey(page, {
    url: `${at.url}/oauth/revoke`,
    htu: `${at.issuer}/oauth/revoke`,
    form: { token: refreshToken as string, client_id: 'ios-example' },
  });
  expect(status).toBe(200);
  expect(grants('revoke', 'revoked', at), 'the family was revoked').toBe(revoked + 1);
}

describe('example iOS app (web build, Chromium, reference server)', () => {
  test('signs in, offers Face ID, and shows the profile from /api/me', async () => {
    const page = await openApp();
    await page.getByTestId('screen-signin').waitFor();
    await screenshot(page, '01-sign-in');

    const form = page.getByTestId('signin-form');
    await form.getByLabel('Username').fill('alice');
    await form.getByLabel('Password').fill('secret');
    await form.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('screen-offer').waitFor();
    await screenshot(page, '02-biometric-offer');
    const prompt = answerNextDialog(page, 'accept');
    await page.getByRole('button', { name: 'Use Face ID' }).click();
    expect(await prompt).toBe('Turn on Face ID to stay signed in');

    const profile = page.getByTestId('profile');
    await profile.getByText('alice').waitFor();
    await expect.poll(() => page.getByTestId('state').getAttribute('data-state')).toBe('active');
    expect(await page.getByTestId('session-panel').locator('[data-field="biometric"]').textContent()).toBe(
      'On (Face ID)',
    );
    expect(await page.getByTestId('session-panel').locator('[data-field="accessToken"]').textContent()).toMatch(
      /^expires in (9m|10m)/,
    );
    await screenshot(page, '03-home');

    // The Keychain item holds the refresh token; the access token stays in memory.
    const stored = await storedSession(page);
    expect(typeof stored?.refreshToken).toBe('string');
    expect(stored).not.toHaveProperty('accessToken');
    expect(grants('login', 'issued')).toBeGreaterThan(0);
  });

  test('refreshes the access token silently before it expires, and keeps loading data', async () => {
    const page = await openApp();
    await signIn(page, { faceId: false });
    const rotated = grants('refresh_token', 'rotated');
    const refreshTokenBefore = (await storedSession(page))?.refreshToken;

    await clock.fastForward(page, (ACCESS_TOKEN_TTL_S / 2 + 5) * 1000); // past the refresh point
    await logLine(page, 'Access token refreshed silently').waitFor();
    expect(grants('refresh_token', 'rotated')).toBe(rotated + 1);
    expect((await storedSession(page))?.refreshToken).not.toBe(refreshTokenBefore);

    await page.getByRole('button', { name: 'Reload profile' }).click();
    await expect.poll(() => page.getByTestId('profile').locator('[data-field="loadedAt"]').textContent()).not.toBe('–');
    expect(await page.getByTestId('profile').locator('[data-field="username"]').textContent()).toBe('alice');
    await screenshot(page, '04-silent-refresh');
  });

  test('back in the foreground after the token expired, it refreshes at once', async () => {
    const page = await openApp();
    await signIn(page, { faceId: false });
    const rotated = grants('refresh_token', 'rotated');

    await setBackground(page, true);
    await logLine(page, 'App moved to the background').waitFor();
    // Suspended: time passes, no timer fires, the access token expires.
    await clock.jump(page, (ACCESS_TOKEN_TTL_S + 60) * 1000);
    const accessToken = page.getByTestId('session-panel').locator('[data-field="accessToken"]');
    await accessToken.getByText(/^expired/).waitFor(); // the panel ticked: the page saw the time pass
    expect(grants('refresh_token', 'rotated')).toBe(rotated); // ... and nothing refreshed in the background

    await setBackground(page, false);
    await logLine(page, 'App back in the foreground').waitFor();
    await logLine(page, 'Access token refreshed silently').waitFor();
    expect(grants('refresh_token', 'rotated')).toBe(rotated + 1);
    await expect.poll(() => page.getByTestId('state').getAttribute('data-state')).toBe('active');
    await accessToken.getByText(/^expires in/).waitFor();
    await screenshot(page, '05-foreground-refresh');
  });

  test('revoked refresh token: Face ID (accepted) gets a new session with the device key', async () => {
    const page = await openApp();
    await signIn(page, { faceId: true });
    await revokeRefreshToken(page);
    const issued = grants('jwt-bearer', 'issued');

    const prompt = answerNextDialog(page, 'accept');
    await clock.fastForward(page, (ACCESS_TOKEN_TTL_S / 2 + 5) * 1000);
    expect(await prompt).toBe("Confirm it's you to stay signed in as alice");
    await logLine(page, 'Re-authenticated with biometrics').waitFor();
    expect(grants('jwt-bearer', 'issued')).toBe(issued + 1);
    await expect.poll(() => page.getByTestId('state').getAttribute('data-state')).toBe('active');
    await expect.poll(() => page.getByTestId('banner').isHidden()).toBe(true);
    await screenshot(page, '06-biometric-reauth');

    // The new session works: its own refresh token rotates.
    const rotated = grants('refresh_token', 'rotated');
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await expect.poll(() => grants('refresh_token', 'rotated')).toBe(rotated + 1);
  });

  /** Signed in with Face ID, refresh token revoked, a refresh: the Face ID prompt is dismissed. */
  async function faceIdDismissedAfterRevocation() {
    const page = await openApp();
    await signIn(page, { faceId: true });
    await revokeRefreshToken(page);
    const prompt = answerNextDialog(page, 'dismiss');
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await prompt;
    return page;
  }

  test('revoked refresh token: Face ID dismissed -> sign-in prompt -> password gets a new session', async () => {
    const page = await faceIdDismissedAfterRevocation();
    const sheet = page.getByTestId('signin-sheet');
    await sheet.waitFor();
    expect(await sheet.getByLabel('Username').inputValue()).toBe('alice');
    await sheet.getByLabel('Password').fill('wrong');
    await sheet.getByRole('button', { name: 'Sign in' }).click();
    await sheet.getByText('The username or password is incorrect.').waitFor();
    await screenshot(page, '07-sign-in-prompt');

    await sheet.getByLabel('Password').fill('secret');
    await sheet.getByRole('button', { name: 'Sign in' }).click();
    await logLine(page, 'Re-authenticated with password').waitFor();
    await sheet.waitFor({ state: 'hidden' });
    await expect.poll(() => page.getByTestId('state').getAttribute('data-state')).toBe('active');
    expect(await logLine(page, 'Biometric check not passed').count()).toBe(1);
  });

  test('revoked refresh token: Face ID dismissed and sign-in cancelled -> signed out', async () => {
    const page = await faceIdDismissedAfterRevocation();
    await page.getByTestId('signin-sheet').getByRole('button', { name: 'Cancel' }).click();
    await page.getByTestId('screen-signin').waitFor();
    expect(await page.getByTestId('signin-notice').textContent()).toContain('could not be renewed');
    expect(await storedSession(page)).toBeNull();
    await screenshot(page, '08-signed-out-after-reauth');
  });

  test('without biometrics: no offer, and a dead refresh token goes straight to the sign-in prompt', async () => {
    const page = await openApp({ query: { biometry: 'none' } });
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    const form = page.getByTestId('signin-form');
    await form.getByLabel('Username').fill('alice');
    await form.getByLabel('Password').fill('secret');
    await form.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('profile').getByText('alice').waitFor();
    expect(await page.getByTestId('session-panel').locator('[data-field="biometric"]').textContent()).toBe(
      'Not available',
    );

    await revokeRefreshToken(page);
    const jwtBearerBefore = grants('jwt-bearer', 'issued');
    await page.getByRole('button', { name: 'Refresh now' }).click();
    const sheet = page.getByTestId('signin-sheet');
    await sheet.getByLabel('Password').fill('secret');
    await sheet.getByRole('button', { name: 'Sign in' }).click();
    await logLine(page, 'Re-authenticated with password').waitFor();
    expect(dialogs).toEqual([]);
    expect(grants('jwt-bearer', 'issued')).toBe(jwtBearerBefore);
  });

  test('a relaunch restores the session from the Keychain with one refresh', async () => {
    const page = await openApp();
    await signIn(page, { faceId: false });
    const rotated = grants('refresh_token', 'rotated');

    await page.reload();
    await page.getByTestId('profile').getByText('alice').waitFor();
    expect(grants('refresh_token', 'rotated')).toBe(rotated + 1); // no access token was persisted
    await expect.poll(() => page.getByTestId('state').getAttribute('data-state')).toBe('active');
  });

  test('DPoP: the sign-in, refreshes and API calls carry proofs of one key, and the refresh token is useless without it', async () => {
    const page = await openApp();
    const proofs: { path: string; proof: string }[] = [];
    page.on('request', (request) => {
      const proof = request.headers()['dpop'];
      if (proof) proofs.push({ path: new URL(request.url()).pathname, proof });
    });
    await signIn(page, { faceId: false });
    const rotated = grants('refresh_token', 'rotated');
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await expect.poll(() => grants('refresh_token', 'rotated')).toBe(rotated + 1);
    await page.getByRole('button', { name: 'Reload profile' }).click();
    await expect.poll(() => proofs.filter((p) => p.path === '/api/me').length).toBeGreaterThanOrEqual(2);

    expect(new Set(proofs.map((p) => p.path))).toEqual(new Set(['/auth/login', '/oauth/token', '/api/me']));
    const jkts = new Set(
      await Promise.all(proofs.map(({ proof }) => calculateJwkThumbprint(decodeProtectedHeader(proof).jwk!))),
    );
    expect(jkts.size, 'one key signed every proof').toBe(1);
    const [jkt] = jkts;
    const panelLabel = page.getByTestId('session-panel').locator('[data-field="dpopKey"]');
    expect(await panelLabel.textContent()).toBe(`WebCrypto, IndexedDB · …${jkt!.slice(-8)}`);

    // The stored refresh token, presented without the key (a copy of the Keychain item):
    const refreshToken = (await storedSession(page))?.refreshToken as string;
    const stolen = await fetch(server.tokenEndpoint, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'ios-example' }),
    });
    expect(stolen.status).toBe(400);
    expect(((await stolen.json()) as { error: string }).error).toBe('invalid_grant');
    await page.getByRole('button', { name: 'Refresh now' }).click(); // the app's own refresh still works
    await expect.poll(() => grants('refresh_token', 'rotated')).toBe(rotated + 2);
  });

  test('sign-out revokes the refresh token, clears the Keychain item and the device key', async () => {
    const page = await openApp();
    await signIn(page, { faceId: true });
    const revoked = grants('revoke', 'revoked');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByTestId('screen-signin').waitFor();
    await expect.poll(() => grants('revoke', 'revoked')).toBe(revoked + 1);
    expect(await storedSession(page)).toBeNull();
    const keyLeft = await page.evaluate(
      () =>
        new Promise<boolean>((resolve, reject) => {
          const open = indexedDB.open('session-keeper-device-key', 1);
          open.onerror = () => reject(open.error);
          open.onsuccess = () => {
            const get = open.result.transaction('keys').objectStore('keys').get('device-key');
            get.onsuccess = () => resolve(get.result !== undefined);
          };
        }),
    );
    expect(keyLeft).toBe(false);
    expect(await page.getByTestId('signin-notice').isHidden()).toBe(true);
  });

  // ---- where the app finds the server: the device-key assertion's audience ----
  // A server that calls itself by another name than the app uses refuses DPoP proofs (they
  // name the URL the app uses): those two setups run with `?dpop=off`, and the test after the
  // table shows what the app says with DPoP on.

  test.each([
    {
      setup: 'the default server URL and `npm run server` (the Simulator)',
      appServer: null,
      reached: 'http://127.0.0.1:4000',
      issuer: 'http://127.0.0.1:4000',
    },
    {
      setup: 'a device: VITE_SERVER_URL and ISSUER both the Mac’s LAN address',
      appServer: 'http://192.0.2.10:4000',
      reached: 'http://192.0.2.10:4000',
      issuer: 'http://192.0.2.10:4000',
    },
    {
      setup: 'a device and a server started without ISSUER (it calls itself http://0.0.0.0:4000)',
      appServer: 'http://192.0.2.10:4000',
      reached: 'http://192.0.2.10:4000',
      issuer: 'http://0.0.0.0:4000',
      query: { dpop: 'off' },
    },
    {
      setup: 'the app naming the server localhost while it calls itself 127.0.0.1',
      appServer: 'http://localhost:4000',
      reached: 'http://localhost:4000',
      issuer: 'http://127.0.0.1:4000',
      query: { dpop: 'off' },
    },
  ])('Face ID re-authentication works with $setup', async ({ appServer, reached, issuer, query = {} }) => {
    const target = await startServerCalled(issuer);
    const page = await openApp({ server: appServer, query, forward: { from: reached, to: target } });
    await signIn(page, { faceId: true });
    await revokeRefreshToken(page, target);

    const prompt = answerNextDialog(page, 'accept');
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await prompt;
    // The server checks the assertion's `aud` against its own token endpoint: a mismatch would
    // refuse the key, and the password sheet would follow although Face ID passed.
    await waitForUnless(logLine(page, 'Re-authenticated with biometrics'), page.getByTestId('signin-sheet'));
    expect(grants('jwt-bearer', 'issued', target)).toBe(1);
  });

  test('with DPoP, a server that calls itself by another name: the sign-in says which ISSUER to start it with', async () => {
    const target = await startServerCalled('http://0.0.0.0:4000');
    const page = await openApp({
      server: 'http://192.0.2.10:4000',
      forward: { from: 'http://192.0.2.10:4000', to: target },
    });
    const form = page.getByTestId('signin-form');
    await form.getByLabel('Username').fill('alice');
    await form.getByLabel('Password').fill('secret');
    await form.getByRole('button', { name: 'Sign in' }).click();

    const error = form.locator('[data-role="error"]');
    await error.getByText('Start the server with ISSUER=http://192.0.2.10:4000').waitFor();
    expect(await error.textContent()).toContain('The server calls itself http://0.0.0.0:4000');
    expect(grants('login', 'issued', target)).toBe(0);
  });

  // ---- a Keychain that cannot be read (a locked device) is not an empty one ----

  test('a Keychain read that fails during a refresh does not sign the user out', async () => {
    const page = await openApp({ lockableKeychain: true });
    await signIn(page, { faceId: false });
    const rotated = grants('refresh_token', 'rotated');

    await setKeychainLocked(page, true);
    await clock.fastForward(page, (ACCESS_TOKEN_TTL_S / 2 + 5) * 1000); // the proactive refresh reads the store
    await waitForUnless(logLine(page, 'Access token refreshed silently'), page.getByTestId('screen-signin'));
    expect(grants('refresh_token', 'rotated')).toBe(rotated + 1); // refreshed from memory
    expect(await page.getByTestId('state').getAttribute('data-state')).toBe('active');

    // The rotated token reached the Keychain: a relaunch once unlocked restores the session.
    await setKeychainLocked(page, false);
    await page.reload();
    await page.getByTestId('profile').getByText('alice').waitFor();
  });

  test('launched while the Keychain cannot be read: it waits, and restores the session back in the foreground', async () => {
    const page = await openApp({ lockableKeychain: true });
    await signIn(page, { faceId: false });

    await setKeychainLocked(page, true);
    await page.reload();
    const notice = page.getByTestId('loading-notice');
    await waitForUnless(notice, page.getByTestId('screen-signin'));
    expect(await notice.textContent()).toContain('Unlock');
    expect(await page.getByText('The app failed to start').count()).toBe(0);
    await screenshot(page, '09-keychain-locked');

    await setKeychainLocked(page, false);
    await setBackground(page, true);
    await setBackground(page, false); // the user unlocked the phone and came back to the app
    await page.getByTestId('profile').getByText('alice').waitFor();
    await expect.poll(() => page.getByTestId('state').getAttribute('data-state')).toBe('active');
  });

  // ---- the device key: refused by the server, offline ----

  test('a device key the server deleted is dropped after the first refusal, not offered with Face ID again', async () => {
    const page = await openApp();
    await signIn(page, { faceId: true });
    await server.revokeUserSessions('alice'); // a password reset: refresh tokens and device keys gone
    const refused = grants('jwt-bearer', 'invalid');

    // Face ID passes, the server refuses the key, the password sheet follows.
    const first = answerNextDialog(page, 'accept');
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await first;
    const sheet = page.getByTestId('signin-sheet');
    await sheet.getByLabel('Password').fill('secret');
    await sheet.getByRole('button', { name: 'Sign in' }).click();
    await logLine(page, 'Re-authenticated with password').waitFor();
    expect(grants('jwt-bearer', 'invalid')).toBe(refused + 1);
    await logLine(page, 'The server no longer accepts this device key').waitFor();
    const biometric = page.getByTestId('session-panel').locator('[data-field="biometric"]');
    await expect.poll(() => biometric.textContent()).toBe('Off');

    // The next re-authentication goes straight to the sign-in sheet: no pointless Face ID prompt.
    await revokeRefreshToken(page);
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await sheet.waitFor();
    expect(dialogs).toEqual([]);
    expect(grants('jwt-bearer', 'invalid')).toBe(refused + 1);
  });

  test('offline during Face ID re-authentication: the user is asked once, not on every retry', async () => {
    const page = await openApp();
    await signIn(page, { faceId: true });
    await revokeRefreshToken(page);
    // The refresh reaches the server (and is refused); the device-key exchange then finds no network.
    await page.route('**/oauth/token', async (route) => {
      if ((route.request().postData() ?? '').includes('jwt-bearer')) await route.abort('internetdisconnected');
      else await route.continue();
    });
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept(); // the user passes Face ID every time
    });

    await page.getByRole('button', { name: 'Refresh now' }).click();
    for (const [attempt, ms] of [1000, 2000, 4000, 8000].entries()) {
      await logLine(page, `Refresh failed (attempt ${attempt + 1})`).waitFor();
      await clock.fastForward(page, ms); // the SDK's backoff: it runs the chain again
    }
    await logLine(page, 'Refresh failed (attempt 5)').waitFor();
    expect(dialogs).toEqual(["Confirm it's you to stay signed in as alice"]);

    // The network is back: the next run gets the session, still without asking again.
    await page.unroute('**/oauth/token');
    await clock.fastForward(page, 16_000);
    await logLine(page, 'Re-authenticated with biometrics').waitFor();
    expect(dialogs).toHaveLength(1);

    // A later re-authentication is a new one: it asks again.
    await revokeRefreshToken(page);
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await expect.poll(() => dialogs.length).toBe(2);
  });
});
