/**
 * DPoP in real Chromium, against the reference server with DPoP on: the key is the SDK's
 * default, a non-extractable WebCrypto key in IndexedDB, shared by the tabs of the origin.
 *
 * Which key signed what is read from the proofs each tab sent (their `jwk` header's RFC 7638
 * thumbprint, as the server computes it); refresh counts are the server's own grant log. The
 * server refuses a token presented with any other key than the one it is bound to, so a
 * session that keeps working after a reload proves that the key survived it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { refreshGrants, startHarness, type Browser, type Harness, type Tab } from './harness.ts';

const MINUTE = 60_000;
/** The server's default access token lifetime is 15 minutes. */
const PAST_EXPIRY = 16 * MINUTE;
const DPOP = { dpop: 'on' };

const grantsOf = (harness: Harness, since: number, grant: string) =>
  harness.server.grantLog.slice(since).filter((entry) => entry.grant === grant);

describe.skipIf(!process.env['SESSION_KEEPER_BROWSER_TESTS'])('DPoP in real Chromium', () => {
  let harness: Harness;
  let browser: Browser | undefined;

  beforeAll(async () => {
    harness = await startHarness();
  });

  afterEach(async () => {
    if (!browser) return;
    const errors = browser.tabs.flatMap((tab) => tab.pageErrors);
    await browser.close();
    browser = undefined;
    expect(errors, 'uncaught errors in the pages').toEqual([]);
  });

  afterAll(async () => {
    await harness?.close();
  });

  async function signedIn(params: Record<string, string> = {}): Promise<Tab> {
    browser = await harness.openBrowser({ ...DPOP, ...params });
    const tab = await browser.open('A');
    await tab.signIn();
    expect((await tab.snapshot()).state).toBe('active');
    return tab;
  }

  test('two tabs share one key: the same jkt in both tabs’ proofs, and one refresh for both', async () => {
    const a = await signedIn();
    const b = await browser!.open('B'); // restores the session A signed in
    const since = harness.server.grantLog.length;

    await browser!.advance(PAST_EXPIRY);
    await Promise.all([a.arm(10), b.arm(10)]);
    await a.go();
    const [fromA, fromB] = await Promise.all([a.settled(), b.settled()]);

    expect(fromA.ok + fromB.ok).toBe(20);
    expect(fromA.failed + fromB.failed).toBe(0);
    expect(refreshGrants(harness.server.grantLog, since)).toHaveLength(1);
    expect(refreshGrants(harness.server.grantLog, since)[0]?.outcome).toBe('rotated');
    const [seenByA, seenByB] = await Promise.all([a.snapshot(), b.snapshot()]);
    expect(seenByA.jkts, 'tab A signed everything with one key').toHaveLength(1);
    expect(seenByB.jkts, 'tab B signed with the same key').toEqual(seenByA.jkts);
    expect(seenByB.proofs, 'tab B sent proofs of its own').toBeGreaterThanOrEqual(10);
    expect(seenByA.tokenRequests + seenByB.tokenRequests, 'one token request from both tabs').toBe(1);
  });

  test('a reload keeps the key: the same jkt after it, and the bound session goes on without a sign-in', async () => {
    const tab = await signedIn({ prompt: 'signin' });
    await tab.request(3);
    const [before] = (await tab.snapshot()).jkts;
    const since = harness.server.grantLog.length;

    await tab.reload();
    expect((await tab.snapshot()).state).toBe('active');
    const afterReload = await tab.request(3);
    // The refresh token is bound to the key too: refreshing proves the key is the stored one.
    await browser!.advance(PAST_EXPIRY);
    const afterExpiry = await tab.request(3);

    expect(afterReload.ok + afterExpiry.ok).toBe(6);
    expect(afterReload.unauthorized + afterExpiry.unauthorized).toBe(0);
    const seen = await tab.snapshot();
    expect(seen.jkts, 'the reloaded page signs with the key from before').toEqual([before]);
    expect(seen.prompts, 'no sign-in prompt').toBe(0);
    expect(grantsOf(harness, since, 'login'), 'no new sign-in').toHaveLength(0);
    expect(refreshGrants(harness.server.grantLog, since).map((grant) => grant.outcome)).toEqual(['rotated']);
  });

  test('the key deleted from IndexedDB: the bound tokens are refused and the user is asked to sign in, once', async () => {
    const tab = await signedIn({ prompt: 'signin' });
    await tab.request(2);
    const [lost] = (await tab.snapshot()).jkts;
    const since = harness.server.grantLog.length;

    await tab.deleteDpopKeys();
    await tab.reload(); // the key held in memory goes too: only the tokens in localStorage stay
    const results = await tab.request(5);

    expect(results.ok, 'the requests waited through the re-authentication and went through').toBe(5);
    expect(results.failed).toBe(0);
    const seen = await tab.snapshot();
    expect(seen.state).toBe('active');
    expect(seen.prompts, 'one sign-in prompt').toBe(1);
    expect(seen.events.join('\n')).toContain('re-auth required: refreshRejected');
    expect(seen.events.join('\n'), 'never a silent sign-out').not.toContain('signed out');
    expect(seen.jkts, 'a new key, made once').toHaveLength(1);
    expect(seen.jkts[0]).not.toBe(lost);
    // The server refused the old refresh token once (no loop), and the user signed in anew.
    const refused = refreshGrants(harness.server.grantLog, since);
    expect(refused).toHaveLength(1);
    expect(refused[0]?.outcome).not.toBe('rotated');
    expect(grantsOf(harness, since, 'login').map((grant) => grant.outcome)).toEqual(['issued']);
    expect(seen.tokenRequests, 'one refused refresh, nothing more at the token endpoint').toBe(1);
  });
});
