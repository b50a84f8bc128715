/**
 * The origins the access token may go to (src/client/origins.ts), shared by the ky client and
 * `session.fetch`: how `trustedOrigins` is read and refused, the client's own origin and the
 * page's, and the test every request URL goes through.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { originTest, pageHref, trustedOriginList } from '../../src/client/origins.ts';
import { ConfigurationError } from '../../src/errors.ts';

afterEach(() => void vi.unstubAllGlobals());

describe('trustedOriginList', () => {
  it('keeps the origin of each entry, once, and nothing when there is none', () => {
    expect(
      trustedOriginList(['https://api.test/v1/', 'https://API.test', 'https://cdn.test:8443/x?y#z'], undefined),
    ).toEqual(['https://api.test', 'https://cdn.test:8443']);
    expect(trustedOriginList(undefined, undefined)).toEqual([]);
    expect(trustedOriginList([], undefined)).toEqual([]);
  });

  it('refuses a value that is not an array', () => {
    expect(() => trustedOriginList('https://api.test' as never, undefined)).toThrow(
      new ConfigurationError('"trustedOrigins" must be an array of origins like "https://api.example.com"'),
    );
  });

  it.each([
    ['not a URL', 'api.test', '"trustedOrigins": "api.test" is not an origin'],
    ['an opaque origin', 'data:text/plain,x', '"trustedOrigins": "data:text/plain,x" is not an origin'],
    ['not a string', 42, '"trustedOrigins": 42 is not an origin'],
    ['null', null, '"trustedOrigins": null is not an origin'],
    [
      'a URL object, not a string',
      new URL('https://api.test'),
      '"trustedOrigins": "https://api.test/" is not an origin',
    ],
  ])('refuses an entry that is %s, naming it', (_, entry, message) => {
    expect(() => trustedOriginList(['https://api.test', entry as never], undefined)).toThrow(
      new ConfigurationError(message),
    );
  });

  it("adds the client's own origin (an absolute prefix), once", () => {
    expect(trustedOriginList(['https://api.test'], 'https://api.test/v1/')).toEqual(['https://api.test']);
    expect(trustedOriginList([], 'https://own.test/v1/')).toEqual(['https://own.test']);
  });

  it('outside a page, a relative prefix names no origin', () => {
    expect(trustedOriginList([], '/v1/')).toEqual([]);
  });

  it("in a page, trusts the page's origin, and resolves a relative prefix against the page", () => {
    vi.stubGlobal('location', { href: 'https://app.test/orders/12' });
    expect(trustedOriginList(['https://api.test'], undefined)).toEqual(['https://api.test', 'https://app.test']);
    expect(trustedOriginList([], '/v1/')).toEqual(['https://app.test']);
    expect(trustedOriginList([], 'https://api.test/v1/')).toEqual(['https://api.test']);
  });

  it('in a page with an opaque origin, trusts no page origin', () => {
    vi.stubGlobal('location', { href: 'about:blank' });
    expect(trustedOriginList([], undefined)).toEqual([]);
  });

  it('pageHref is the page address, undefined outside a page', () => {
    expect(pageHref()).toBeUndefined();
    vi.stubGlobal('location', { href: 'https://app.test/a' });
    expect(pageHref()).toBe('https://app.test/a');
    vi.stubGlobal('location', {});
    expect(pageHref()).toBeUndefined();
  });
});

describe('originTest', () => {
  it.each([
    [['https://api.test'], 'https://api.test/x', true],
    [['https://api.test'], 'https://api.test/', true],
    [['https://api.test'], 'https://api.test', false],
    [['https://api.test'], 'https://api.test.evil.test/x', false],
    [['https://api.test'], 'https://api.test:8443/x', false],
    [['https://api.test'], 'http://api.test/x', false],
    [['https://api.test', 'https://cdn.test'], 'https://cdn.test/x', true],
    [['https://api.test', 'https://cdn.test'], 'https://api.test/x', true],
    [['https://api.test', 'https://cdn.test'], 'https://cdn.test.evil.test/x', false],
    [['https://api.test', 'https://cdn.test'], 'https://other.test/x', false],
    [[], 'https://api.test/x', false],
  ])('over %j, %s is %s', (origins, url, expected) => {
    expect(originTest(origins)(url)).toBe(expected);
  });
});
