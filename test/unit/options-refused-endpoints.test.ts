/**
 * Bad endpoints, client ids and options objects are refused with a ConfigurationError that names
 * the option and says what it must be (an absolute https: URL, plain http only on loopback or
 * with allowInsecureHttp).
 */
import { describe, expect, it } from 'vitest';
import { REQUIRED, refusal, HTTPS_ONLY } from './options-setup.ts';

describe('a bad endpoint or client id is refused with a ConfigurationError that names it', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['a string as allowInsecureHttp', { allowInsecureHttp: 'yes' }, '"allowInsecureHttp" must be a boolean'],
    ['a relative token endpoint', { tokenEndpoint: '/token' }, '"tokenEndpoint" must be an absolute URL, got "/token"'],
    ['no token endpoint', { tokenEndpoint: undefined }, '"tokenEndpoint" must be an absolute URL, got undefined'],
    [
      'a plain http token endpoint off loopback',
      { tokenEndpoint: 'http://auth.example.com/token' },
      `"tokenEndpoint" must be ${HTTPS_ONLY}`,
    ],
    [
      'a plain http token endpoint with allowInsecureHttp false',
      { tokenEndpoint: 'http://192.168.1.20/token', allowInsecureHttp: false },
      `"tokenEndpoint" must be ${HTTPS_ONLY}`,
    ],
    [
      'a token endpoint of another scheme',
      { tokenEndpoint: 'ftp://auth.example.com/token' },
      `"tokenEndpoint" must be ${HTTPS_ONLY}`,
    ],
    [
      'a relative revocation endpoint',
      { revocationEndpoint: 'revoke' },
      '"revocationEndpoint" must be an absolute URL, got "revoke"',
    ],
    [
      'a plain http revocation endpoint off loopback',
      { revocationEndpoint: 'http://auth.example.com/revoke' },
      `"revocationEndpoint" must be ${HTTPS_ONLY}`,
    ],
    ['an empty clientId', { clientId: '' }, '"clientId" must be a non-empty string'],
    ['a number as clientId', { clientId: 1 }, '"clientId" must be a non-empty string'],
    ['no clientId', { clientId: undefined }, '"clientId" must be a non-empty string'],
  ])('%s', (_name, options, message) => {
    expect(refusal({ ...REQUIRED, ...options })).toBe(message);
  });
});

describe('no options object is refused', () => {
  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a string', 'https://auth.example.com/token'],
  ])('no options object (%s)', (_name, options) => {
    expect(refusal(options)).toBe('Options are required');
  });
});
