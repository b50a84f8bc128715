/**
 * Contexts sharing one store when the server does not rotate refresh tokens.
 */
import { describe, expect, it } from 'vitest';
import { recordEvents, useFakeAuth } from './helpers/setup.ts';
import { controllableStore } from './helpers/tokens.ts';

const ctx = useFakeAuth();
const MINUTE = 60_000;

describe('a server that does not rotate refresh tokens', () => {
  it('tabs keep one refresh token through refreshes, a failed save and store notices', async () => {
    ctx.server.rotate = false;
    const { state, store } = controllableStore();
    const a = ctx.manager({ store, broadcast: false });
    const b = ctx.manager({ store, broadcast: false });
    const events = [recordEvents(a), recordEvents(b)];
    await a.setTokens(ctx.server.issue());
    await b.restore();
    for (let i = 0; i < 4; i++) {
      await ctx.clock.advance(30 * MINUTE);
      state.failNextSave = i === 1;
      await (i % 2 ? b : a).refresh();
      await ctx.clock.advance(0);
    }
    expect(events.flatMap((recorded) => recorded.types())).not.toContain('reauthRequired');
    expect([a.state, b.state]).toEqual(['active', 'active']);
    await ctx.clock.advance(0);
    // B refreshed last: A follows its new access token instead of refreshing for itself.
    expect(await a.getAccessToken()).toBe(await b.getAccessToken());
  });
});
