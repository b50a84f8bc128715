/**
 * The multi-tab harness: builds the test page with Vite (against the BUILT package), serves it
 * on one loopback origin, runs the reference server in-process on a clock the test moves, and
 * opens tabs of one Chromium profile with playwright-core (pages of one persistent context share
 * localStorage, Web Locks and BroadcastChannel, as the tabs of one browser window do).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { build } from 'vite';
import { startServer, type GrantLogEntry, type RunningServer } from '../../examples/server/src/index.ts';
import type { RequestSummary, TabControl, TabSnapshot } from './page/main.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../..');
const pageDir = join(here, 'page');
export const artifactsDir = join(repoRoot, 'test-results', 'browser');

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
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

/**
 * The page imports `session-keeper` as an app does: the package's own `exports` map, so dist/.
 * Builds it when missing (a fresh clone); `npm run build` refreshes a stale one.
 */
function ensurePackageBuilt(): void {
  if (existsSync(join(repoRoot, 'dist', 'index.js'))) return;
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: repoRoot, stdio: 'inherit' });
}

/** Bundles test/browser/page with Vite into a temporary folder; returns it. */
export async function buildPage(): Promise<string> {
  ensurePackageBuilt();
  const pageOut = mkdtempSync(join(tmpdir(), 'session-keeper-page-'));
  await build({
    configFile: false,
    root: pageDir,
    base: './',
    logLevel: 'warn',
    build: { outDir: pageOut, emptyOutDir: true, target: 'es2022', minify: false, reportCompressedSize: false },
  });
  return pageOut;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

/** A static file server on a free loopback port: the one origin every tab shares. */
export async function serveStatic(root: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    const file = normalize(join(root, path === '/' ? 'index.html' : path));
    if (!file.startsWith(root) || !existsSync(file)) {
      response.writeHead(404).end('not found');
      return;
    }
    response.writeHead(200, {
      'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'cache-control': 'no-store',
    });
    response.end(readFileSync(file));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

/**
 * Shifted wall-clock time for the server and the pages: real timers, but "16 minutes later"
 * is one call, so tokens expire without sleeping. The two can also drift apart (the server
 * expiring a token the client still believes in).
 */
export class TestClock {
  serverOffset = 0;
  pageOffset = 0;
  readonly serverNow = (): number => Date.now() + this.serverOffset;
}

/** One grant at the server, and helpers to count them. */
export function refreshGrants(log: GrantLogEntry[], since: number): GrantLogEntry[] {
  return log.slice(since).filter((entry) => entry.grant === 'refresh_token');
}

/** The whole environment of one test file. */
export interface Harness {
  server: RunningServer;
  clock: TestClock;
  pageUrl: string;
  /** A fresh browser profile (one "browser window" whose tabs share storage and locks). */
  openBrowser(params?: Record<string, string>): Promise<Browser>;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  mkdirSync(artifactsDir, { recursive: true });
  const clock = new TestClock();
  const [outDir, server] = await Promise.all([
    buildPage(),
    startServer({ port: 0, databaseUrl: 'sqlite::memory:', now: clock.serverNow }),
  ]);
  const site = await serveStatic(outDir);
  const browsers = new Set<Browser>();
  const harness: Harness = {
    server,
    clock,
    pageUrl: site.url,
    async openBrowser(params = {}) {
      const browser = await Browser.launch(harness, params);
      browsers.add(browser);
      return browser;
    },
    async close() {
      await Promise.allSettled([...browsers].map((browser) => browser.close()));
      await Promise.allSettled([site.close(), server.close()]);
      rmSync(outDir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** A tab of the test page, with typed shortcuts to its control API. */
export class Tab {
  readonly page: Page;
  readonly label: string;
  readonly pageErrors: string[] = [];

  constructor(page: Page, label: string) {
    this.page = page;
    this.label = label;
    page.on('pageerror', (error) => this.pageErrors.push(error.message));
  }

  snapshot(): Promise<TabSnapshot> {
    return this.page.evaluate(() => window.sk.snapshot());
  }
  signIn(): Promise<void> {
    return this.page.evaluate(() => window.sk.signIn());
  }
  signOut(): Promise<void> {
    return this.page.evaluate(() => window.sk.signOut());
  }
  request(count: number): Promise<RequestSummary> {
    return this.page.evaluate((n) => window.sk.request(n), count);
  }
  waitForState(state: TabSnapshot['state'], timeoutMs = 10_000): Promise<void> {
    return this.page.evaluate(([s, t]) => window.sk.waitForState(s, t), [state, timeoutMs] as const);
  }
  arm(count: number): Promise<void> {
    return this.page.evaluate((n) => window.sk.arm(n), count);
  }
  go(): Promise<void> {
    return this.page.evaluate(() => window.sk.go());
  }
  settled(): Promise<RequestSummary> {
    return this.page.evaluate(() => window.sk.settled());
  }
  setVisible(visible: boolean): Promise<void> {
    return this.page.evaluate((v) => window.sk.setVisible(v), visible);
  }
  stallTokenEndpoint(stalled: boolean): Promise<void> {
    return this.page.evaluate((s) => window.sk.stallTokenEndpoint(s), stalled);
  }
  /** Deletes the origin's DPoP key database (the key is gone; the tokens in localStorage stay). */
  deleteDpopKeys(): Promise<void> {
    return this.page.evaluate(() => window.sk.deleteDpopKeys());
  }
  /** Reloads the tab and waits until its session was restored again. */
  async reload(): Promise<void> {
    await this.page.reload();
    await this.page.waitForFunction(() => window.sk !== undefined, undefined, { timeout: 10_000 });
    await this.page.evaluate(() => window.sk.ready);
  }
  locks(): Promise<{ held: string[]; pending: string[] }> {
    return this.page.evaluate(() => window.sk.locks());
  }
  /** Runs a call without arguments on the tab's control API. */
  run<R>(fn: (sk: TabControl) => R | Promise<R>): Promise<R> {
    return this.page.evaluate(`(${fn.toString()})(window.sk)`) as Promise<R>;
  }
}

/** One Chromium profile (a persistent context) and its tabs. */
export class Browser {
  readonly context: BrowserContext;
  readonly tabs: Tab[] = [];
  readonly #harness: Harness;
  readonly #params: Record<string, string>;
  readonly #profile: string;

  private constructor(harness: Harness, context: BrowserContext, params: Record<string, string>, profile: string) {
    this.#harness = harness;
    this.context = context;
    this.#params = params;
    this.#profile = profile;
  }

  static async launch(harness: Harness, params: Record<string, string>): Promise<Browser> {
    const profile = mkdtempSync(join(tmpdir(), 'session-keeper-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      viewport: { width: 720, height: 560 },
    });
    // The persistent context opens with one blank tab; the test opens its own.
    for (const page of context.pages()) await page.close();
    return new Browser(harness, context, params, profile);
  }

  /** Opens a tab of the test page and waits until its session was restored. */
  /** Opens a tab; `waitForRestore: false` returns before its `restore()` settled. */
  async open(label = String(this.tabs.length + 1), { waitForRestore = true } = {}): Promise<Tab> {
    const page = await this.context.newPage();
    const query = new URLSearchParams({
      server: this.#harness.server.url,
      tab: label,
      offset: String(this.#harness.clock.pageOffset),
      ...this.#params,
    });
    const tab = new Tab(page, label);
    await page.goto(`${this.#harness.pageUrl}?${query}`);
    await page.waitForFunction(() => window.sk !== undefined, undefined, { timeout: 10_000 });
    if (waitForRestore) await page.evaluate(() => window.sk.ready);
    this.tabs.push(tab);
    return tab;
  }

  async openTabs(count: number): Promise<Tab[]> {
    const opened: Tab[] = [];
    for (let i = 0; i < count; i++) opened.push(await this.open());
    return opened;
  }

  /** Closes a tab: the browser releases every Web Lock it held. */
  async closeTab(tab: Tab): Promise<void> {
    await tab.page.close({ runBeforeUnload: false });
    this.tabs.splice(this.tabs.indexOf(tab), 1);
  }

  /** Kills the tab's renderer process (as the OS or a crash would); the page stays a dead tab. */
  async crashTab(tab: Tab): Promise<void> {
    await Promise.all([tab.page.waitForEvent('crash'), tab.page.goto('chrome://crash').catch(() => {})]);
    this.tabs.splice(this.tabs.indexOf(tab), 1);
  }

  /** Moves the server's clock and every page's clock (it lives in the origin's localStorage). */
  async advance(ms: number, { serverOnly = false }: { serverOnly?: boolean } = {}): Promise<void> {
    const clock = this.#harness.clock;
    clock.serverOffset += ms;
    if (serverOnly) return;
    clock.pageOffset += ms;
    const anyTab = this.tabs[0];
    if (anyTab) await anyTab.page.evaluate((offset) => window.sk.setClockOffset(offset), clock.pageOffset);
  }

  /** Screenshots of every open tab, as artifacts of the run. */
  async screenshots(scenario: string): Promise<string[]> {
    const dir = join(artifactsDir, scenario);
    mkdirSync(dir, { recursive: true });
    const paths: string[] = [];
    for (const tab of this.tabs) {
      const path = join(dir, `tab-${tab.label}.png`);
      await tab.page.screenshot({ path });
      paths.push(path);
    }
    return paths;
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => {});
    rmSync(this.#profile, { recursive: true, force: true });
  }
}
