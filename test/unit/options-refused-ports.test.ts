/**
 * A port that lacks a method, or has an optional one that is not a function, is refused with a
 * ConfigurationError that names the port (or the method) and lists what it must have.
 */
import { describe, expect, it } from 'vitest';
import { REQUIRED, refusal, noop, STORE } from './options-setup.ts';

describe('a bad port is refused with a ConfigurationError that names it', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['a number as store', { store: 42 }, '"store" must be an object with load, save, clear()'],
    ['null as store', { store: null }, '"store" must be an object with load, save, clear()'],
    ['an empty store', { store: {} }, '"store" must be an object with load, save, clear(); "load" is missing'],
    [
      'a store without clear',
      { store: { load: noop, save: noop } },
      '"store" must be an object with load, save, clear(); "clear" is missing',
    ],
    [
      'a store whose subscribe is not a function',
      { store: { ...STORE, subscribe: 1 } },
      '"store.subscribe" must be a function',
    ],
    [
      'an empty clock',
      { clock: {} },
      '"clock" must be an object with now, setTimeout, clearTimeout(); "now" is missing',
    ],
    [
      'a clock without clearTimeout',
      { clock: { now: noop, setTimeout: noop } },
      '"clock" must be an object with now, setTimeout, clearTimeout(); "clearTimeout" is missing',
    ],
    ['an empty lock', { lock: {} }, '"lock" must be an object with run(); "run" is missing'],
    [
      'a lock whose holdShared is not a function',
      { lock: { run: noop, holdShared: 1 } },
      '"lock.holdShared" must be a function',
    ],
    [
      'a lock whose isHeld is not a function',
      { lock: { run: noop, isHeld: true } },
      '"lock.isHeld" must be a function',
    ],
    ['a string as logger', { logger: 'console' }, '"logger" must be an object with debug, info, warn, error()'],
    [
      'a logger without error',
      { logger: { debug: noop, info: noop, warn: noop } },
      '"logger" must be an object with debug, info, warn, error(); "error" is missing',
    ],
    ['a string as biometric', { biometric: 'yes' }, '"biometric" must be an object with isAvailable, getAssertion()'],
    [
      'a biometric provider without getAssertion',
      { biometric: { isAvailable: noop } },
      '"biometric" must be an object with isAvailable, getAssertion(); "getAssertion" is missing',
    ],
    ['an empty lifecycle', { lifecycle: {} }, '"lifecycle" must be an object with subscribe(); "subscribe" is missing'],
    ['an empty network', { network: {} }, '"network" must be an object with subscribe(); "subscribe" is missing'],
    [
      'a network whose isOnline is not a function',
      { network: { subscribe: noop, isOnline: true } },
      '"network.isOnline" must be a function',
    ],
    [
      'an empty broadcast',
      { broadcast: {} },
      '"broadcast" must be an object with post, subscribe(); "post" is missing',
    ],
    [
      'a broadcast without subscribe',
      { broadcast: { post: noop } },
      '"broadcast" must be an object with post, subscribe(); "subscribe" is missing',
    ],
    ['true as broadcast', { broadcast: true }, '"broadcast" must be an object with post, subscribe()'],
  ])('%s', (_name, options, message) => {
    expect(refusal({ ...REQUIRED, ...options })).toBe(message);
  });
});
