/**
 * The refresh loop's waits: a two-digit Retry-After honoured (and not cut short by the
 * network), backoffs ended by the network or by another context, a wait for another context's
 * re-authentication, and the session ending during a grant or a wait.
 */
import { describe, expect, it } from 'vitest';
import { refreshUntilSettled } from '../../src/refresh/refresher.ts';
import { REAUTH_HANDOFF_MS } from '../../src/session/decisions.ts';
import { NOW } from './builders.ts';
import {
  MINUTE,
  clock,
  network,
  log,
  grants,
  controller,
  answer,
  rotated,
  unavailable,
  options,
  tokens,
  context,
  otherContext,
  useLoopHooks,
  useTokenEndpoint,
} from './token-endpoint.ts';

useTokenEndpoint();

describe('refreshUntilSettled: waits', () => {
  const loop = useLoopHooks();

  it('honours a two-digit Retry-After, even when the network comes back', async () => {
    answer(
      () => unavailable({ 'retry-after': '30' }),
      () => rotated(),
    );
    const settled = refreshUntilSettled(context(), loop.hooks);
    await clock.advance(10);
    expect(loop.failures).toEqual([['TransientRefreshError', 1, 30_000]]);
    network.goOnline();
    await clock.advance(30_000 - 11);
    expect(grants).toHaveLength(1);
    await clock.advance(1);
    await expect(settled).resolves.toMatchObject({ kind: 'refreshed' });
    expect(grants).toHaveLength(2);
  });

  it('ends a Retry-After wait when another context changes the store', async () => {
    answer(() => unavailable({ 'retry-after': '30' }));
    const resolved = options();
    const settled = refreshUntilSettled(context(resolved), loop.hooks);
    await clock.advance(10);
    await otherContext(resolved).save(tokens('rt-theirs'));
    await clock.advance(0);
    await expect(settled).resolves.toMatchObject({ kind: 'refreshed', source: 'otherContext' });
    expect(clock.now()).toBe(NOW + 10);
  });

  it('ends a backoff when the network comes back', async () => {
    answer(
      () => unavailable(),
      () => rotated(),
    );
    const settled = refreshUntilSettled(context(options({ backoff: { initialDelay: MINUTE } })), loop.hooks);
    await clock.advance(10);
    network.goOnline();
    await clock.advance(0);
    await expect(settled).resolves.toMatchObject({ kind: 'refreshed', source: 'refresh' });
    expect(clock.now()).toBe(NOW + 10);
  });

  it('ends a backoff when another context changes the store', async () => {
    answer(() => unavailable());
    const resolved = options({ backoff: { initialDelay: MINUTE } });
    const settled = refreshUntilSettled(context(resolved), loop.hooks);
    await clock.advance(10);
    await otherContext(resolved).save(tokens('rt-theirs'));
    await clock.advance(0);
    await expect(settled).resolves.toMatchObject({ kind: 'refreshed', source: 'otherContext' });
  });

  it("waits for another context's re-authentication, then tries again", async () => {
    const resolved = options();
    const dead = tokens('rt-1');
    await otherContext(resolved).save({ ...dead, refreshRejectedAt: NOW });
    loop.current = dead;
    const ctx = context(resolved);
    ctx.storage.followed();
    const settled = refreshUntilSettled(ctx, loop.hooks);
    await clock.advance(REAUTH_HANDOFF_MS - 1);
    expect(loop.waitingForOtherContext).toBe(1);
    expect(loop.failures).toEqual([]);
    await clock.advance(1);
    // Its re-authentication never came: this context re-authenticates itself.
    await expect(settled).resolves.toEqual({ kind: 'reauth', reason: 'refreshRejected' });
    expect(loop.waitingForOtherContext).toBe(1);
  });

  it("adopts another context's re-authentication as soon as the store changes", async () => {
    const resolved = options();
    const dead = tokens('rt-1');
    const other = otherContext(resolved);
    await other.save({ ...dead, refreshRejectedAt: NOW });
    loop.current = dead;
    const ctx = context(resolved);
    ctx.storage.followed();
    const settled = refreshUntilSettled(ctx, loop.hooks);
    await clock.advance(MINUTE);
    await other.save(tokens('rt-reauthenticated'));
    await clock.advance(0);
    await expect(settled).resolves.toMatchObject({
      kind: 'refreshed',
      source: 'otherContext',
      tokens: { refreshToken: 'rt-reauthenticated' },
    });
    expect(grants).toHaveLength(0);
  });

  it('settles undefined, not as a failure, when the session ends during the grant', async () => {
    answer(() => new Promise<Response>(() => {}));
    const settled = refreshUntilSettled(context(), loop.hooks);
    await clock.advance(10);
    controller.abort(new Error('signed out'));
    await expect(settled).resolves.toBeUndefined();
    expect(loop.failures).toEqual([]);
    expect(log.lines).toEqual([]);
  });

  it('settles undefined when the session ends during a backoff', async () => {
    answer(() => unavailable());
    const settled = refreshUntilSettled(context(), loop.hooks);
    await clock.advance(10);
    controller.abort(new Error('signed out'));
    await expect(settled).resolves.toBeUndefined();
    expect(grants).toHaveLength(1);
  });
});
