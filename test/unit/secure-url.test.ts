/** Where a token may travel: https, or http on a loopback host (or anywhere when allowed). */
import { describe, expect, it } from 'vitest';
import { isSecureUrl } from '../../src/utils/secure-url.ts';

describe('isSecureUrl', () => {
  it.each(['http://127.0.0.1/token', 'http://127.10.0.1/token', 'http://127.0.10.1/token', 'http://127.0.0.10/token'])(
    'takes plain http on the loopback address %s',
    (url) => expect(isSecureUrl(url)).toBe(true),
  );

  it('refuses a DNS name that only starts like a loopback address', () => {
    expect(isSecureUrl('http://127.0.0.1.example.com/token')).toBe(false);
    expect(isSecureUrl('http://127.0.0.1.example.com/token', true)).toBe(true);
  });
});
