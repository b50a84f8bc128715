/**
 * Every default is applied where an option is left out, and a given value wins over it: the
 * store, clock, lifecycle and network, margins and timeouts, backoff, jitter, broadcast, DPoP.
 */
import { describe, expect, it } from 'vitest';
import type { DpopContext, DpopPort } from '../../src/dpop/types.ts';
import { systemClock } from '../../src/ports/clock.ts';
import { visibilityLifecycle } from '../../src/ports/lifecycle.ts';
import { inProcessLock } from '../../src/ports/lock.ts';
import { browserNetwork } from '../../src/ports/network.ts';
import { MemoryTokenStore } from '../../src/ports/token-store.ts';
import { ManualClock, ManualLifecycle, ManualNetwork } from '../../src/testing.ts';
import { recordingLogger } from './builders.ts';
import { REQUIRED, resolve, noop } from './options-setup.ts';

describe('defaults, and given values over them', () => {
  it('the session lives in memory, access token included', () => {
    const resolved = resolve({});
    expect(resolved.store).toBeInstanceOf(MemoryTokenStore);
    expect(resolved.persistAccessToken).toBe(true);
    const store = new MemoryTokenStore();
    expect(resolve({ store, persistAccessToken: false })).toMatchObject({ store, persistAccessToken: false });
  });

  it('the system clock, visibility and online events', () => {
    expect(resolve({})).toMatchObject({
      clock: systemClock,
      lifecycle: visibilityLifecycle,
      network: browserNetwork,
    });
    const clock = new ManualClock();
    const lifecycle = new ManualLifecycle();
    const network = new ManualNetwork();
    const resolved = resolve({ clock, lifecycle, network });
    expect(resolved.clock).toBe(clock);
    expect(resolved.lifecycle).toBe(lifecycle);
    expect(resolved.network).toBe(network);
  });

  it('margins of five minutes, a 15 s grant timeout, a 30 s token wait', () => {
    expect(resolve({})).toMatchObject({
      refreshMargin: 300_000,
      sessionWarning: 300_000,
      refreshTimeout: 15_000,
      tokenWaitTimeout: 30_000,
    });
    expect(resolve({ refreshMargin: 0, sessionWarning: 1, refreshTimeout: 2, tokenWaitTimeout: 3 })).toMatchObject({
      refreshMargin: 0,
      sessionWarning: 1,
      refreshTimeout: 2,
      tokenWaitTimeout: 3,
    });
  });

  it('backoff from one second to one minute; a partial backoff keeps the other default', () => {
    expect(resolve({}).backoff).toEqual({ initialDelay: 1000, maxDelay: 60_000 });
    expect(resolve({ backoff: { initialDelay: 10 } }).backoff).toEqual({ initialDelay: 10, maxDelay: 60_000 });
    expect(resolve({ backoff: { maxDelay: 2000 } }).backoff).toEqual({ initialDelay: 1000, maxDelay: 2000 });
  });

  it('jitter from Math.random, unless given', () => {
    expect(resolve({}).random).toBe(Math.random);
    const random = () => 0.25;
    expect(resolve({ random }).random).toBe(random);
  });

  it('no trusted origins', () => {
    expect(resolve({}).trustedOrigins).toEqual([]);
    const trustedOrigins = ['https://api.example.com'];
    expect(resolve({ trustedOrigins }).trustedOrigins).toBe(trustedOrigins);
  });

  it('plain http only on loopback', () => {
    expect(resolve({}).allowInsecureHttp).toBe(false);
    expect(resolve({ tokenEndpoint: 'http://10.0.0.2/token', allowInsecureHttp: true }).allowInsecureHttp).toBe(true);
  });

  it('broadcast on a channel, unless turned off or given', () => {
    const resolved = resolve({});
    expect(typeof resolved.broadcast?.post).toBe('function');
    expect(typeof resolved.broadcast?.subscribe).toBe('function');
    expect(resolve({ broadcast: false }).broadcast).toBeUndefined();
    const broadcast = { post: noop, subscribe: () => noop };
    expect(resolve({ broadcast }).broadcast).toBe(broadcast);
  });

  it('no DPoP, unless asked for', () => {
    expect(resolve({}).dpop).toBeUndefined();
    expect(resolve({ dpop: false }).dpop).toBeUndefined();
  });

  it('a DPoP handle is bound to the session: its clock, lock, lock name and logger', () => {
    const port = {} as DpopPort;
    const contexts: DpopContext[] = [];
    const clock = new ManualClock();
    const lock = inProcessLock();
    const { logger, lines } = recordingLogger();
    const resolved = resolve({
      clock,
      lock,
      logger,
      lockName: 'the-session',
      dpop: {
        bind: (context: DpopContext) => {
          contexts.push(context);
          return port;
        },
      },
    });
    expect(resolved.dpop).toBe(port);
    expect(contexts).toHaveLength(1);
    expect(contexts[0]).toMatchObject({ clock, lock, lockName: 'the-session' });
    contexts[0]!.logger.warn('from the handle', { access_token: 'secret' });
    expect(lines).toEqual([['warn', 'from the handle', { access_token: '[redacted]' }]]);
  });

  it('the other options are passed on as given', () => {
    const signInPrompt = async () => null;
    const refreshTokens = async () => ({ access_token: 'a' });
    const biometric = { isAvailable: async () => false, getAssertion: async () => null };
    const resolved = resolve({
      signInPrompt,
      refreshTokens,
      biometric,
      revocationEndpoint: 'https://auth.example.com/revoke',
    });
    expect(resolved).toMatchObject({
      ...REQUIRED,
      signInPrompt,
      refreshTokens,
      biometric,
      revocationEndpoint: 'https://auth.example.com/revoke',
    });
  });
});
