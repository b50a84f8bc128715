/**
 * Counterexamples the model-based suite found, kept as plain tests so they stay fixed
 * whatever seeds future runs draw.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { flushMicrotasks } from '../../src/testing.ts';
import { ModelSystem, REFRESH_INTERVAL_MS } from './system.ts';

let system: ModelSystem;
afterEach(() => system?.dispose());

describe('model-based counterexamples', () => {
  it('a context in Retry-After backoff adopts the tokens another context refreshed meanwhile', async () => {
    // Found as: [EndpointFaults(503), EndpointFaults(500, 429 retry-after 31s), Advance(301000),
    // Requests(ctx0 x1), Advance(200)]. Context 0 slept out the server's Retry-After while
    // context 1 had already refreshed, so its request timed out with fresh tokens in the store.
    system = new ModelSystem(() => 0.5);
    await system.contexts[0]!.manager.setTokens(system.server.login());
    await flushMicrotasks();
    system.server.faults.push({ status: 429, retryAfterSeconds: 45 });
    await system.clock.advance(REFRESH_INTERVAL_MS + 1_000); // both due: ctx0 gets the 429, ctx1 refreshes
    expect(system.server.stats.rotations).toBe(1);
    expect(system.contexts.map((c) => c.manager.state)).toEqual(['active', 'active']);
    system.issueRequests(0, 3);
    await flushMicrotasks();
    expect(system.requests.map((r) => r.outcome)).toEqual(['ok', 'ok', 'ok']);
    expect(system.server.stats.refreshGrants).toBe(2); // the 429 and the one rotation: no extra request
  });

  it('a context in backoff follows another context that signed out, instead of retrying', async () => {
    system = new ModelSystem(() => 0.5);
    await system.contexts[0]!.manager.setTokens(system.server.login());
    await flushMicrotasks();
    system.server.faults.push({ status: 503 }, { status: 503 });
    system.server.invalidateAccessTokens();
    system.issueRequests(0, 1); // 401 -> ctx0 refreshes -> 503 -> backoff
    await flushMicrotasks();
    expect(system.contexts[0]!.manager.state).toBe('refreshing');
    await system.contexts[1]!.manager.signOut();
    await flushMicrotasks();
    expect(system.contexts[0]!.manager.state).toBe('signedOut');
    expect(system.contexts[0]!.signOuts.map((s) => s.reason)).toEqual(['otherContext']);
    expect(system.server.stats.refreshGrants).toBe(1);
  });
});
