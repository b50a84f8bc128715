/** What the option unit tests share: the required options, and the refusal they expect. */
import { expect } from 'vitest';
import { ConfigurationError } from '../../src/errors.ts';
import { resolveOptions, type SessionManagerOptions } from '../../src/options.ts';

export const REQUIRED = { tokenEndpoint: 'https://auth.example.com/token', clientId: 'app' };

/** The options resolved from {@link REQUIRED} and `options`. */
export const resolve = (options: Record<string, unknown>) =>
  resolveOptions({ ...REQUIRED, ...options } as SessionManagerOptions);

/** The message of the ConfigurationError that resolving `options` throws. */
export function refusal(options: unknown): string {
  try {
    resolveOptions(options as SessionManagerOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).code).toBe('ERR_CONFIG');
    return (error as Error).message;
  }
  throw new Error('the options were accepted');
}

export const noop = () => {};
export const STORE = { load: noop, save: noop, clear: noop };
export const CLOCK = { now: () => 0, setTimeout: noop, clearTimeout: noop };
export const LOGGER = { debug: noop, info: noop, warn: noop, error: noop };
export const HTTPS_ONLY =
  'an https: URL (plain http: only on a loopback host, or with allowInsecureHttp for development)';
