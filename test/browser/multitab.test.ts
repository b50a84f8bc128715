/**
 * Many tabs, one session: cross-context refresh coordination in real Chromium.
 *
 * Each test opens a fresh Chromium profile whose tabs load the test page (the built package,
 * bundled by Vite) against the reference server. The tabs share localStorage (the token store),
 * Web Locks (the refresh lock) and BroadcastChannel (change notices), as tabs of a browser do.
 * Refresh counts are the server's own grant log. Time moves through shifted clocks (server
 * and pages), never through sleeps; only the bounded lock wait is measured in real time.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { artifactsDir, refreshGrants, startHarness, type Browser, type Harness, type Tab } from './harness.ts';
import type { RequestSummary } from './page/main.ts';

const MINUTE = 60_000;
/** The server's default access token lifetime is 15 minutes. */
const PAST_EXPIRY = 16 * MINUTE;
/** Inside the default 5-minute refresh margin, but the token still valid. */
const INTO_REFRESH_MARGIN = 11 * MINUTE;

/** What each scenario cost at the server, written to test-results/browser/refresh-counts.json. */
const counts: Record<string, Record<string, number>> = {};

function record(scenario: string, harness: Harness, since: number): number {
  const grants = refreshGrants(harness.server.grantLog, since);
  const byOutcome: Record<string, number> = { refresh_token: grants.length };
  for (const grant of grants) byOutcome[grant.outcome] = (byOutcome[grant.outcome] ?? 0) + 1;
  counts[scenario] = byOutcome;
  return grants.length;
}

async function all<T>(tabs: Tab[], action: (tab: Tab) => Promise<T>): Promise<T[]> {
  return Promise.all(tabs.map(action));
}

/** Every tab arms `perTab` requests; one broadcast message releases them all at once. */
async function fireAtOnce(tabs: Tab[], perTab: number): Promise<RequestSummary[]> {
  await all(tabs, (tab) => tab.arm(perTab));
  await tabs[0]!.go();
  return all(tabs, (tab) => tab.settled());
}

function total(summaries: RequestSummary[]): { ok: number; failed: number; unauthorized: number; tokens: Set<string> } {
  return {
    ok: summaries.reduce((sum, s) => sum + s.ok, 0),
    failed: summaries.reduce((sum, s) => sum + s.failed, 0),
    unauthorized: summaries.reduce((sum, s) => sum + s.unauthorized, 0),
    tokens: new Set(summaries.flatMap((s) => s.tokensUsed)),
  };
}

async function tokenRequests(tabs: Tab[]): Promise<number> {
  const snapshots = await all(tabs, (tab) => tab.snapshot());
  return snapshots.reduce((sum, s) => sum + s.tokenRequests, 0);
}

describe.skipIf(!process.env['SESSION_KEEPER_BROWSER_TESTS'])('many tabs in real Chromium', () => {
  let harness: Harness;
  let browser: Browser | undefined;

  beforeAll(async () => {
    harness = await startHarness();
  });

  afterEach(async ({ task }) => {
    if (!browser) return;
    const slug = task.name
      .replace(/[^a-z0-9]+/gi, '-')
      .replace(/^-|-$/g, '')
      .toLowerCase()
      .slice(0, 60);
    await browser.screenshots(slug).catch(() => {});
    const errors = browser.tabs.flatMap((tab) => tab.pageErrors);
    await browser.close();
    browser = undefined;
    expect(errors, 'uncaught errors in the pages').toEqual([]);
  });

  afterAll(async () => {
    // Across every scenario, nobody was ever logged out by reuse detection.
    const reuse = harness?.server.grantLog.filter((entry) => entry.outcome === 'reuse-detected') ?? [];
    writeFileSync(join(artifactsDir, 'refresh-counts.json'), `${JSON.stringify(counts, null, 2)}\n`);
    console.log('[multi-tab] refresh_token grants seen by the server:', counts);
    await harness?.close();
    expect(reuse).toEqual([]);
  });

  async function signedInTabs(count: number, params: Record<string, string> = {}): Promise<Tab[]> {
    browser = await harness.openBrowser(params);
    const first = await browser.open();
    await first.signIn();
    const rest = await browser.openTabs(count - 1); // these restore the shared session
    const tabs = [first, ...rest];
    for (const snapshot of await all(tabs, (tab) => tab.snapshot())) expect(snapshot.state).toBe('active');
    return tabs;
  }

  test('4 tabs with an expired token fire 25 requests each at once: one refresh at the server, all 100 succeed', async () => {
    const tabs = await signedInTabs(4);
    const since = harness.server.grantLog.length;
    expect(await tokenRequests(tabs), 'restoring a valid session costs no refresh').toBe(0);

    await browser!.advance(PAST_EXPIRY);
    const results = total(await fireAtOnce(tabs, 25));

    expect(results.ok).toBe(100);
    expect(results.failed).toBe(0);
    expect(results.unauthorized, 'no request went out with the expired token').toBe(0);
    expect(results.tokens.size, 'every tab uses the one new token').toBe(1);
    expect(record('4 tabs x 25 requests, expired token', harness, since)).toBe(1);
    expect(refreshGrants(harness.server.grantLog, since)[0]?.outcome).toBe('rotated');
    expect(await tokenRequests(tabs), 'one token request from all the tabs together').toBe(1);
  });

  test('the server expired the token first: 100 requests answered 401 in 4 tabs still cause one refresh', async () => {
    const tabs = await signedInTabs(4);
    const since = harness.server.grantLog.length;

    await browser!.advance(PAST_EXPIRY, { serverOnly: true }); // the tabs still believe in their token
    const results = total(await fireAtOnce(tabs, 25));

    expect(results.ok).toBe(100);
    expect(results.failed).toBe(0);
    expect(results.unauthorized, 'the old token was refused').toBeGreaterThan(0);
    expect(results.unauthorized, 'each request retried at most once').toBeLessThanOrEqual(100);
    expect(results.tokens.size).toBe(1);
    expect(record('4 tabs x 25 requests, 401 from the server', harness, since)).toBe(1);
    expect(await tokenRequests(tabs)).toBe(1);
  });

  test('one tab signs out: the others are signed out; one signs in: the others follow', async () => {
    browser = await harness.openBrowser();
    const tabs = await browser.openTabs(3);
    const [a, b, c] = tabs as [Tab, Tab, Tab];
    const since = harness.server.grantLog.length;

    await a.signIn();
    await all([b, c], (tab) => tab.waitForState('active'));

    await b.signOut();
    await all([a, c], (tab) => tab.waitForState('signedOut'));
    for (const tab of [a, c]) {
      expect((await tab.snapshot()).events.some((line) => line.includes('signed out (otherContext)'))).toBe(true);
    }
    const afterSignOut = await c.request(5);
    expect(afterSignOut.failed).toBe(5);
    expect(afterSignOut.errors).toEqual({ ERR_SESSION_EXPIRED: 5 });
    expect(harness.server.grantLog.slice(since).filter((entry) => entry.grant === 'revoke')).toHaveLength(1);

    await c.signIn();
    await all([a, b], (tab) => tab.waitForState('active'));
    const results = total(await fireAtOnce(tabs, 5));
    expect(results.ok).toBe(15);
    expect(results.unauthorized).toBe(0);
    expect(results.tokens.size, 'the tabs follow the new sign-in, not a stale token').toBe(1);
    expect(record('sign-out and sign-in across 3 tabs', harness, since)).toBe(0);
  });

  test('a tab hidden then shown refreshes only when its token is due, and once for all tabs', async () => {
    const tabs = await signedInTabs(3);
    const [a, b, c] = tabs as [Tab, Tab, Tab];
    const since = harness.server.grantLog.length;

    await a.setVisible(false);
    await browser!.advance(MINUTE);
    await a.setVisible(true);
    await a.waitForState('active');
    expect(refreshGrants(harness.server.grantLog, since), 'a fresh token is not refreshed on show').toHaveLength(0);

    await a.setVisible(false);
    await browser!.advance(INTO_REFRESH_MARGIN); // 3 minutes left: inside the 5-minute margin
    await a.setVisible(true);
    await expect.poll(() => refreshGrants(harness.server.grantLog, since).length).toBe(1);
    await a.waitForState('active');
    // The tabs that stayed visible adopt it (they never ask the server).
    const adopted = total(await fireAtOnce(tabs, 3));
    expect(adopted.ok).toBe(9);
    expect(adopted.unauthorized).toBe(0);
    expect(adopted.tokens.size).toBe(1);

    // All three come back at the same moment, all due: still one refresh.
    await all(tabs, (tab) => tab.setVisible(false));
    await browser!.advance(INTO_REFRESH_MARGIN);
    await all(tabs, (tab) => tab.setVisible(true));
    await expect.poll(() => refreshGrants(harness.server.grantLog, since).length).toBe(2);
    await all(tabs, (tab) => tab.waitForState('active'));
    const after = total(await fireAtOnce([a, b, c], 3));
    expect(after.ok).toBe(9);
    expect(after.tokens.size).toBe(1);
    expect(record('visibility: shown fresh, shown due, 3 shown at once', harness, since)).toBe(2);
    expect(await tokenRequests(tabs)).toBe(2);
  });

  test.each([
    ['closed', (tab: Tab) => browser!.closeTab(tab)],
    ['reloaded', (tab: Tab) => tab.page.reload().then(() => undefined)],
    ['crashed', (tab: Tab) => browser!.crashTab(tab)],
  ] as const)('a tab %s while holding the refresh lock: the others refresh at once', async (how, kill) => {
    const tabs = await signedInTabs(3);
    const [holder, b, c] = tabs as [Tab, Tab, Tab];
    const since = harness.server.grantLog.length;
    const { lockName } = await holder.run((sk) => ({ lockName: sk.lockName }));

    await browser!.advance(PAST_EXPIRY);
    await holder.stallTokenEndpoint(true);
    await holder.run((sk) => sk.startRefresh()); // takes the lock; its token request hangs
    await expect.poll(async () => (await holder.snapshot()).tokenRequests).toBe(1);
    const waiting = [b.request(25), c.request(25)];
    await expect.poll(async () => (await b.locks()).pending.filter((name) => name === lockName).length).toBe(2);
    expect((await b.locks()).held).toContain(lockName);

    const killedAt = Date.now();
    await kill(holder);
    const results = total(await Promise.all(waiting));
    const waitedMs = Date.now() - killedAt;

    expect(results.ok).toBe(50);
    expect(results.failed).toBe(0);
    // Well under the bounded wait (10 s): the browser released the lock with the tab.
    expect(waitedMs).toBeLessThan(5_000);
    expect(record(`tab ${how} while holding the lock`, harness, since)).toBe(1);
    expect(await tokenRequests([b, c])).toBe(1);
  });

  test('a frozen tab holding the lock forever: the others refresh after the bounded wait', async () => {
    const maxWaitMs = 1_500;
    const tabs = await signedInTabs(2, { maxWaitMs: String(maxWaitMs) });
    const [frozen, b] = tabs as [Tab, Tab];
    const since = harness.server.grantLog.length;

    await frozen.run((sk) => sk.holdLock());
    await browser!.advance(PAST_EXPIRY);
    const results = await b.request(10);

    expect(results.ok).toBe(10);
    expect(results.elapsedMs).toBeGreaterThanOrEqual(maxWaitMs - 100);
    expect(results.elapsedMs).toBeLessThan(maxWaitMs + 5_000);
    expect((await b.snapshot()).events.some((line) => line.includes('lock wait timed out'))).toBe(true);
    expect(record('frozen tab holds the lock (bounded wait 1.5 s)', harness, since)).toBe(1);
  });

  test('without BroadcastChannel the storage event alone keeps the tabs in step', async () => {
    const tabs = await signedInTabs(3, { broadcast: 'off' });
    const [a, b, c] = tabs as [Tab, Tab, Tab];
    const since = harness.server.grantLog.length;

    await browser!.advance(PAST_EXPIRY);
    const results = total(await fireAtOnce(tabs, 20));
    expect(results.ok).toBe(60);
    expect(results.tokens.size).toBe(1);
    expect(record('storage event only: 3 tabs x 20 requests, expired token', harness, since)).toBe(1);

    await a.signOut();
    await all([b, c], (tab) => tab.waitForState('signedOut'));
  });

  test('a tab opened while another shows its sign-in prompt waits for it; once that tab is closed, a new tab prompts at once', async () => {
    browser = await harness.openBrowser({ prompt: 'hold' });
    const a = await browser.open('A');
    await a.signIn();
    const since = harness.server.grantLog.length;
    expect(await harness.server.revokeUserSessions('alice')).toBeGreaterThan(0);
    await a.run((sk) => sk.startRefresh());
    await a.waitForState('reauthenticating'); // invalid_grant: marked dead in the store
    await a.page.waitForFunction(() => window.sk.snapshot().prompts === 1);
    const reauthLock = `${await a.run((sk) => sk.lockName)}:reauth`;
    expect((await a.locks()).held).toContain(reauthLock);

    const b = await browser.open('B', { waitForRestore: false });
    await b.waitForState('reauthenticating'); // decided: waits for A's outcome
    const seenByB = await b.snapshot();
    expect(seenByB.prompts, 'no second prompt while A prompts').toBe(0);
    expect(seenByB.events.join('\n')).not.toContain('re-auth required');

    await browser.closeTab(a); // the browser releases A's locks
    const c = await browser.open('C', { waitForRestore: false });
    await c.page.waitForFunction(() => window.sk.snapshot().prompts === 1);
    expect((await c.snapshot()).events.join('\n')).toContain('re-auth required: refreshRejected');
    expect(record("a tab opened during another tab's prompt", harness, since)).toBe(1); // A's one invalid_grant
  });

  test('persistAccessToken: false: each tab refreshes for itself, one after the other, never reusing a token', async () => {
    const tabs = await signedInTabs(3, { persistAccessToken: 'false' });
    const since = harness.server.grantLog.length;

    await browser!.advance(PAST_EXPIRY);
    const results = total(await fireAtOnce(tabs, 10));

    expect(results.ok).toBe(30);
    expect(results.failed).toBe(0);
    // The store has no access token to hand over: every tab rotates once, in turn, from the
    // newest refresh token it finds under the lock (so the server never sees a reuse).
    expect(record('persistAccessToken false: 3 tabs x 10 requests, expired token', harness, since)).toBe(3);
    expect(refreshGrants(harness.server.grantLog, since).every((grant) => grant.outcome === 'rotated')).toBe(true);
  });
});
