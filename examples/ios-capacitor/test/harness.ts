/**
 * Test harness for the example app's web build: a static server for `dist/`, Chromium through
 * playwright-core, and a clock shared by the page and the reference server, so tests jump
 * ahead in time instead of sleeping.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Dialog, type Page } from 'playwright-core';

export const exampleDir = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const distDir = join(exampleDir, 'dist');
export const resultsDir = join(exampleDir, 'test-results');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** Serves the built app on a free loopback port, as Capacitor serves it from the bundle. */
export async function serveStatic(root: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    let file = normalize(join(root, path));
    if (!file.startsWith(root + sep) && file !== root) {
      response.writeHead(403).end();
      return;
    }
    if (!existsSync(file) || statSync(file).isDirectory()) file = join(root, 'index.html');
    response.writeHead(200, {
      'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
    });
    response.end(readFileSync(file));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

/**
 * One clock for the page and the server. The page's clock is Playwright's fake clock, which
 * flows in real time from `install`; `skewMs` is how far both are ahead of the real time.
 */
export class SharedClock {
  skewMs = 0;
  /** For `startServer({ now })`. */
  readonly now = (): number => Date.now() + this.skewMs;

  /** Jumps ahead, firing the page's timers that fall due (a phone left on the table). */
  async fastForward(page: Page, ms: number): Promise<void> {
    this.skewMs += ms;
    await page.clock.fastForward(ms);
  }

  /** Jumps ahead without firing a timer (a suspended app: its timers were frozen). */
  async jump(page: Page, ms: number): Promise<void> {
    this.skewMs += ms;
    await page.clock.setSystemTime(this.now());
  }
}

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A fresh Chromium profile (its own localStorage and IndexedDB: a freshly installed app). */
export async function launchApp(
  clock: SharedClock,
): Promise<{ context: BrowserContext; page: Page; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: apt-get install -y chromium, or set CHROMIUM_PATH`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'session-keeper-ios-example-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    viewport: { width: 390, height: 844 }, // an iPhone's screen in points
    deviceScaleFactor: 2,
    colorScheme: 'light',
  });
  await context.clock.install({ time: clock.now() });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Answers the next `window.confirm` (the biometric plugin's web prompt); resolves with its text. */
export function answerNextDialog(page: Page, answer: 'accept' | 'dismiss'): Promise<string> {
  return new Promise((resolveMessage) => {
    page.once('dialog', (dialog: Dialog) => {
      const message = dialog.message();
      void (answer === 'accept' ? dialog.accept() : dialog.dismiss()).then(() => resolveMessage(message));
    });
  });
}

/**
 * Puts the page in the background or brings it back. Headless Chromium cannot hide a page, so
 * this overrides `document.hidden`/`visibilityState` and dispatches `visibilitychange`, which
 * `@capacitor/app`'s web implementation turns into `appStateChange`.
 */
export async function setBackground(page: Page, hidden: boolean): Promise<void> {
  await page.evaluate((isHidden) => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => isHidden });
    Object.defineProperty(document, 'visibilityState', {
      configurable: true,
      get: () => (isHidden ? 'hidden' : 'visible'),
    });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

/** Saves a screenshot under test-results/ and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/**
 * POSTs `form` to `url` from the page, with a DPoP proof (`htu`: the URL on the server's own
 * name) signed by the app's DPoP key, read from the SDK's key database in the page's IndexedDB
 * (without a proof when the app runs without DPoP).
 * The key is non-extractable: only the page can sign with it, so the proof is made there, by
 * hand (header, payload, ES256 over both). Resolves the HTTP status.
 */
export function revokeWithAppKey(
  page: Page,
  request: { url: string; htu: string; form: Record<string, string> },
): Promise<number> {
  return page.evaluate(async ({ url, htu, form }) => {
    // No key database: the app runs without DPoP (`?dpop=off`), its tokens are bearer tokens.
    // (Opening a database that is not there would create it empty, under the SDK's feet.)
    if (!(await indexedDB.databases()).some((database) => database.name === 'session-keeper-dpop')) {
      return (await fetch(url, { method: 'POST', body: new URLSearchParams(form) })).status;
    }
    const keys = await new Promise<CryptoKeyPair>((resolve, reject) => {
      const open = indexedDB.open('session-keeper-dpop');
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const all = open.result.transaction('keys').objectStore('keys').getAll();
        all.onerror = () => reject(all.error);
        all.onsuccess = () => {
          open.result.close();
          if (all.result.length !== 1) reject(new Error(`expected one DPoP key, found ${all.result.length}`));
          else resolve(all.result[0] as CryptoKeyPair);
        };
      };
    });
    const base64url = (bytes: Uint8Array) =>
      btoa(String.fromCharCode(...bytes))
        .replace(/\+/g, '-')
        .replace(/\//g, '_')
        .replace(/=+$/, '');
    const encode = (value: object) => base64url(new TextEncoder().encode(JSON.stringify(value)));
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', keys.publicKey);
    const header = encode({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } });
    const payload = encode({ htm: 'POST', htu, iat: Math.floor(Date.now() / 1000), jti: crypto.randomUUID() });
    const signature = await crypto.subtle.sign(
      { name: 'ECDSA', hash: 'SHA-256' },
      keys.privateKey,
      new TextEncoder().encode(`${header}.${payload}`),
    );
    const response = await fetch(url, {
      method: 'POST',
      headers: { dpop: `${header}.${payload}.${base64url(new Uint8Array(signature))}` },
      body: new URLSearchParams(form),
    });
    return response.status;
  }, request);
}
