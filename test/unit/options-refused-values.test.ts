/**
 * Bad flags, names, functions, durations and backoffs are refused with a ConfigurationError that
 * names the option and says what it must be.
 */
import { describe, expect, it } from 'vitest';
import { REQUIRED, refusal } from './options-setup.ts';

describe('a bad value is refused with a ConfigurationError that names it', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['a string as persistAccessToken', { persistAccessToken: 'no' }, '"persistAccessToken" must be a boolean'],
    ['a number as lockName', { lockName: 7 }, '"lockName" must be a non-empty string'],
    ['an empty lockName', { lockName: '' }, '"lockName" must be a non-empty string'],
    [
      'a string as backoff',
      { backoff: 'fast' },
      '"backoff" must be an object like { initialDelay: 1000, maxDelay: 60000 }',
    ],
    ['null as backoff', { backoff: null }, '"backoff" must be an object like { initialDelay: 1000, maxDelay: 60000 }'],
    ['an object as signInPrompt', { signInPrompt: {} }, '"signInPrompt" must be a function'],
    ['an object as refreshTokens', { refreshTokens: {} }, '"refreshTokens" must be a function'],
    ['a string as fetch', { fetch: 'fetch' }, '"fetch" must be a function'],
    ['a number as random', { random: 1 }, '"random" must be a function'],
    ['a negative refreshMargin', { refreshMargin: -1 }, '"refreshMargin" must be a number of ms >= 0'],
    ['a string as refreshMargin', { refreshMargin: '5000' }, '"refreshMargin" must be a number of ms >= 0'],
    ['NaN as refreshMargin', { refreshMargin: Number.NaN }, '"refreshMargin" must be a number of ms >= 0'],
    ['an infinite sessionWarning', { sessionWarning: Infinity }, '"sessionWarning" must be a number of ms >= 0'],
    ['a negative sessionWarning', { sessionWarning: -0.5 }, '"sessionWarning" must be a number of ms >= 0'],
    ['a zero refreshTimeout', { refreshTimeout: 0 }, '"refreshTimeout" must be a number of ms > 0'],
    ['a fraction of a ms as refreshTimeout', { refreshTimeout: 0.5 }, '"refreshTimeout" must be a number of ms > 0'],
    ['a string as refreshTimeout', { refreshTimeout: '15s' }, '"refreshTimeout" must be a number of ms > 0'],
    ['a zero tokenWaitTimeout', { tokenWaitTimeout: 0 }, '"tokenWaitTimeout" must be a number of ms > 0'],
    ['an infinite tokenWaitTimeout', { tokenWaitTimeout: Infinity }, '"tokenWaitTimeout" must be a number of ms > 0'],
    ['a zero initial backoff', { backoff: { initialDelay: 0 } }, '"backoff.initialDelay" must be a number of ms > 0'],
    [
      'a string as initial backoff',
      { backoff: { initialDelay: '1s' } },
      '"backoff.initialDelay" must be a number of ms > 0',
    ],
    ['a zero maximum backoff', { backoff: { maxDelay: 0 } }, '"backoff.maxDelay" must be a number of ms > 0'],
    [
      'a maximum backoff below the initial one',
      { backoff: { initialDelay: 5000, maxDelay: 4999 } },
      '"backoff.maxDelay" must be at least backoff.initialDelay',
    ],
    [
      'a maximum backoff below the default initial one',
      { backoff: { maxDelay: 999 } },
      '"backoff.maxDelay" must be at least backoff.initialDelay',
    ],
  ])('%s', (_name, options, message) => {
    expect(refusal({ ...REQUIRED, ...options })).toBe(message);
  });
});
