/**
 * The logger port: redaction of every field at every level, the console logger and the
 * silent default.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  consoleLogger,
  redact,
  redactingLogger,
  silentLogger,
  type LogFields,
  type Logger,
} from '../../src/ports/logger.ts';
import { unsignedJwt } from './builders.ts';

const JWT = unsignedJwt({ sub: 'alice', exp: 2_000_000_000 });
const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('redact', () => {
  it.each([
    'access_token',
    'refreshToken',
    'TOKEN',
    'assertion',
    'client_secret',
    'password',
    'Authorization',
    'code_verifier',
  ])('hides the field %s whatever it holds', (key) => {
    expect(redact({ [key]: 'opaque-value' })).toEqual({ [key]: '[redacted]' });
    expect(redact({ [key]: 42 })).toEqual({ [key]: '[redacted]' });
  });

  it('keeps fields whose names say nothing secret', () => {
    const fields = { attempt: 2, retryInMs: 500, trigger: 'timer', ok: true, at: null };
    expect(redact(fields)).toEqual(fields);
  });

  it('hides every JWT inside a string, keeping the words around them', () => {
    expect(redact({ note: `sent ${JWT} then ${JWT}.` })).toEqual({ note: 'sent [redacted-jwt] then [redacted-jwt].' });
  });

  it('hides a JWT without a signature part', () => {
    const [header, payload] = JWT.split('.');
    expect(redact({ note: `${header}.${payload}.` })).toEqual({ note: '[redacted-jwt]' });
  });

  it('keeps text that only looks like the start of a JWT', () => {
    expect(redact({ note: 'eyJ alone, eyJabc without dots' })).toEqual({ note: 'eyJ alone, eyJabc without dots' });
  });

  it('turns an error into its name and message, with JWTs hidden', () => {
    expect(redact({ error: new TypeError(`bad token ${JWT}`) })).toEqual({
      error: 'TypeError: bad token [redacted-jwt]',
    });
  });

  it('hides secrets inside nested objects and arrays', () => {
    expect(
      redact({
        response: { access_token: 'a', body: { refresh_token: 'r', note: JWT }, status: 200 },
        tried: [JWT, { id_token: 'i' }, 3, [new Error(`bad ${JWT}`)]],
      }),
    ).toEqual({
      response: {
        access_token: '[redacted]',
        body: { refresh_token: '[redacted]', note: '[redacted-jwt]' },
        status: 200,
      },
      tried: ['[redacted-jwt]', { id_token: '[redacted]' }, 3, ['Error: bad [redacted-jwt]']],
    });
  });

  it('follows four levels of nesting inside a field, and marks a fifth [nested]', () => {
    expect(redact({ a: { b: { c: { d: { e: JWT } } } } })).toEqual({ a: { b: { c: { d: { e: '[redacted-jwt]' } } } } });
    expect(redact({ a: { b: { c: { d: { e: { f: JWT } } } } } })).toEqual({
      a: { b: { c: { d: { e: '[nested]' } } } },
    });
    expect(redact({ a: [[[[JWT]]]] })).toEqual({ a: [[[['[redacted-jwt]']]]] });
    expect(redact({ a: [[[[[JWT]]]]] })).toEqual({ a: [[[['[nested]']]]] });
  });

  it('marks a cycle [nested] and keeps a value seen twice side by side', () => {
    const loop: Record<string, unknown> = { note: JWT };
    loop.self = loop;
    const shared = { note: JWT };
    expect(redact({ loop, left: shared, right: shared })).toEqual({
      loop: { note: '[redacted-jwt]', self: '[nested]' },
      left: { note: '[redacted-jwt]' },
      right: { note: '[redacted-jwt]' },
    });
  });

  it('passes objects that are not plain (a Date, a URL) as they are, and plain objects without a prototype too', () => {
    const at = new Date(0);
    const url = new URL('https://api.example/x');
    const bare = Object.assign(Object.create(null) as object, { password: 'p' });
    const out = redact({ at, url, bare });
    expect(out.at).toBe(at);
    expect(out.url).toBe(url);
    expect(out.bare).toEqual({ password: '[redacted]' });
  });

  it('leaves the fields it was given untouched', () => {
    const fields = { note: JWT, refresh_token: 'r', nested: { note: JWT } };
    redact(fields);
    expect(fields).toEqual({ note: JWT, refresh_token: 'r', nested: { note: JWT } });
  });
});

describe('redactingLogger', () => {
  function recording() {
    const lines: [level: string, message: string, fields: LogFields | undefined][] = [];
    const logger = Object.fromEntries(
      LEVELS.map((level) => [
        level,
        (message: string, fields?: LogFields) => void lines.push([level, message, fields]),
      ]),
    ) as unknown as Logger;
    return { lines, logger };
  }

  it.each(LEVELS)('redacts the fields of a %s line and passes it on at the same level', (level) => {
    const { lines, logger } = recording();
    redactingLogger(logger)[level]('refresh failed', {
      refresh_token: 'r',
      error: new Error(`got ${JWT}`),
      attempt: 1,
    });
    expect(lines).toEqual([
      [level, 'refresh failed', { refresh_token: '[redacted]', error: 'Error: got [redacted-jwt]', attempt: 1 }],
    ]);
  });

  it.each(LEVELS)('passes a %s line without fields on without fields', (level) => {
    const { lines, logger } = recording();
    redactingLogger(logger)[level]('biometric cancelled');
    expect(lines).toEqual([[level, 'biometric cancelled', undefined]]);
  });
});

describe('consoleLogger', () => {
  it.each(LEVELS)('writes a %s line to the console method of that level, with the prefix and the fields', (level) => {
    const write = vi.spyOn(console, level).mockImplementation(() => {});
    consoleLogger('[auth]')[level]('refreshed', { attempt: 1 });
    expect(write.mock.calls).toEqual([['[auth]', 'refreshed', { attempt: 1 }]]);
  });

  it.each(LEVELS)('writes a %s line without fields with an empty string in their place', (level) => {
    const write = vi.spyOn(console, level).mockImplementation(() => {});
    consoleLogger('[auth]')[level]('refresh due');
    expect(write.mock.calls).toEqual([['[auth]', 'refresh due', '']]);
  });

  it('prefixes lines with [session-keeper] by default', () => {
    const write = vi.spyOn(console, 'info').mockImplementation(() => {});
    consoleLogger().info('hello');
    expect(write.mock.calls[0]?.[0]).toBe('[session-keeper]');
  });
});

describe('silentLogger', () => {
  it.each(LEVELS)('says nothing at %s', (level) => {
    const writes = LEVELS.map((name) => vi.spyOn(console, name).mockImplementation(() => {}));
    expect(silentLogger[level]('anything', { attempt: 1 })).toBeUndefined();
    expect(writes.every((write) => write.mock.calls.length === 0)).toBe(true);
  });
});

describe('redact: values that are not objects', () => {
  it('passes undefined, numbers, booleans and functions through as they are', () => {
    const callback = () => {};
    expect(redact({ a: undefined, b: 1, c: true, d: callback })).toEqual({ a: undefined, b: 1, c: true, d: callback });
  });
});
