/**
 * A flood of sign-ins must not starve refresh grants: password checks are bounded (503 with
 * Retry-After past the bound, before any hashing), signing never waits on the thread pool,
 * and sign-ins have a tighter per-address budget than refreshes. Outcomes only: no timing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyLimit } from '../src/http/concurrency-limit.ts';
import { OAuthError } from '../src/http/errors.ts';
import type { RunningServer } from '../src/index.ts';
import { describeEachBackend, login, loginRequest, refresh, refreshRequest, startTestServer } from './helpers.ts';

describe('ConcurrencyLimit', () => {
  it('runs up to the bound, queues up to the queue, and refuses the rest at once with 503 and Retry-After', async () => {
    const limit = new ConcurrencyLimit({ concurrency: 1, queue: 2 });
    const releases: Array<() => void> = [];
    const started: number[] = [];
    const task = (i: number) => () =>
      new Promise<number>((resolve) => {
        started.push(i);
        releases.push(() => resolve(i));
      });
    const runs = [0, 1, 2].map((i) => limit.run(task(i)));
    await expect(limit.run(task(3))).rejects.toMatchObject({
      status: 503,
      code: 'temporarily_unavailable',
      headers: { 'Retry-After': '1' },
    });
    await Promise.resolve();
    expect(started).toEqual([0]);
    releases[0]!();
    expect(await runs[0]).toBe(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1]);
    expect(limit.running).toBe(1);
    releases[1]!();
    await runs[1];
    await new Promise((resolve) => setImmediate(resolve));
    releases[2]!();
    expect(await runs[2]).toBe(2);
    expect(limit.running).toBe(0);
    // Free again: a new task runs at once.
    const again = limit.run(async () => 'ok');
    expect(await again).toBe('ok');
  });

  it('a failing task frees its slot', async () => {
    const limit = new ConcurrencyLimit({ concurrency: 1, queue: 0 });
    await expect(limit.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limit.run(async () => 1)).toBe(1);
    expect(new OAuthError(503, 'temporarily_unavailable', 'x').status).toBe(503);
  });
});

describeEachBackend('a flood of sign-ins', (backend) => {
  let server: RunningServer;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    // Real password hashes (slow on purpose), one check at a time, two waiting; no rate
    // limits, as if the flood came from many addresses.
    ({ server, stop } = await startTestServer(backend, {
      rateLimitPerMinute: 0,
      passwordHashCost: 'standard',
      passwordCheckConcurrency: 1,
      passwordCheckQueue: 2,
    }));
  });
  afterAll(async () => stop?.());

  it('gets 503 with Retry-After past the bound, while every refresh succeeds', async () => {
    let { refresh_token } = await login(server);
    const flood = Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        loginRequest(server, { username: `nobody-${i}`, password: 'wrong', client_id: `flood-${i}` }),
      ),
    );
    const refreshStatuses: number[] = [];
    for (let i = 0; i < 10; i += 1) {
      const response = await refreshRequest(server, refresh_token);
      refreshStatuses.push(response.status);
      if (response.status === 200) ({ refresh_token } = (await response.json()) as { refresh_token: string });
    }
    const responses = await flood;
    expect(refreshStatuses).toEqual(Array(10).fill(200));

    const statuses = responses.map((r) => r.status);
    const refused = responses.filter((r) => r.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 401).length + refused.length).toBe(30);
    for (const response of refused) {
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await response.json()).toMatchObject({ error: 'temporarily_unavailable' });
    }
    expect(server.grantLog.filter((e) => e.reason === 'too many password checks at once')).toHaveLength(refused.length);

    // Once the flood is over, the right password signs in.
    await login(server);
    await refresh(server, refresh_token);
  }, 60_000);
});

describeEachBackend('per-address budgets', (backend) => {
  let server: RunningServer;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    ({ server, stop } = await startTestServer(backend, { rateLimitPerMinute: 3, loginRateLimitPerMinute: 2 }));
  });
  afterAll(async () => stop?.());

  it('sign-ins have a tighter per-address budget than refreshes, whatever the client_id', async () => {
    const logins: number[] = [];
    for (let i = 0; i < 3; i += 1) logins.push((await loginRequest(server, { client_id: `address-${i}` })).status);
    expect(logins).toEqual([200, 200, 429]);
    // Refreshes from the same address still have their own, larger budget (ten times 3).
    const refreshes: number[] = [];
    for (let i = 0; i < 5; i += 1)
      refreshes.push((await refreshRequest(server, 'Z'.repeat(43), `address-${i}`)).status);
    expect(refreshes).toEqual(Array(5).fill(400));
  });
});
