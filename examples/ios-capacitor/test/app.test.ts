/**
 * The example iOS app's web build in Chromium, against the reference server: what a user of
 * the app goes through, from sign-in to sign-out. The Keychain and Face ID are the plugins' web
 * fallbacks here (localStorage and a confirm dialog); the README says what only a device shows.
 */
import { existsSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startServer, type RunningServer } from '../../server/src/index.ts';
import {
  SharedClock,
  answerNextDialog,
  exampleDir,
  distDir,
  launchApp,
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
  await session?.close();
  session = undefined;
});

afterAll(async () => {
  await app?.close();
  await server?.close();
});

async function openApp(query: Record<string, string> = {}): Promise<Page> {
  session = await launchApp(clock);
  const { page } = session;
  page.on('pageerror', (error) => console.error('page error:', error.message));
  await page.goto(`${app.url}/?${new URLSearchParams({ server: server.url, ...query })}`);
  return page;
}

const grants = (grant: string, outcome: string) =>
  server.grantLog.filter((entry) => entry.grant === grant && entry.outcome === outcome).length;

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
async function revokeRefreshToken(page: Page): Promise<void> {
  const refreshToken = (await storedSession(page))?.refreshToken;
  expect(typeof refreshToken).toBe('string');
  const response = await fetch(server.revocationEndpoint, {
    method: 'POST',
    body: new URLSearchParams({ token: refreshToken as string, client_id: 'ios-example' }),
  });
  expect(response.status).toBe(200);
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
    expect(await page.getByTestId('session-panel').locator('[data-field="biometric"]').textContent()).toBe('On (Face ID)');
    expect(await page.getByTestId('session-panel').locator('[data-field="accessToken"]').textContent()).toMatch(/^expires in (9m|10m)/);
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

  test('revoked refresh token: Face ID dismissed -> sign-in prompt -> password gets a new session', async () => {
    const page = await openApp();
    await signIn(page, { faceId: true });
    await revokeRefreshToken(page);

    const prompt = answerNextDialog(page, 'dismiss');
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await prompt;
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
    const page = await openApp();
    await signIn(page, { faceId: true });
    await revokeRefreshToken(page);

    const prompt = answerNextDialog(page, 'dismiss');
    await page.getByRole('button', { name: 'Refresh now' }).click();
    await prompt;
    await page.getByTestId('signin-sheet').getByRole('button', { name: 'Cancel' }).click();
    await page.getByTestId('screen-signin').waitFor();
    expect(await page.getByTestId('signin-notice').textContent()).toContain('could not be renewed');
    expect(await storedSession(page)).toBeNull();
    await screenshot(page, '08-signed-out-after-reauth');
  });

  test('without biometrics: no offer, and a dead refresh token goes straight to the sign-in prompt', async () => {
    const page = await openApp({ biometry: 'none' });
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
    expect(await page.getByTestId('session-panel').locator('[data-field="biometric"]').textContent()).toBe('Not available');

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
});
