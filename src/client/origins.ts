import { ConfigurationError } from '../errors.ts';

/** The page's address in a browser (or WebView); `undefined` in Node. */
export function pageHref(): string | undefined {
  return (globalThis as { location?: { href?: string } }).location?.href;
}

function originOf(url: string, base?: string): string | undefined {
  try {
    const { origin } = new URL(url, base);
    return origin === 'null' ? undefined : origin;
  } catch {
    return undefined;
  }
}

/**
 * The origins that get the access token: each of `trustedOrigins` (which must parse: a typo
 * must not silently leave requests unauthenticated) and `own`, an origin the client already
 * talks to (ky's `prefix`, or the page's own). Never "trust everything": a token sent to an
 * origin the app did not name is a token leaked.
 * @throws ConfigurationError - an entry is not an absolute URL
 */
export function trustedOriginList(trustedOrigins: readonly string[] | undefined, own: string | undefined): string[] {
  if (trustedOrigins !== undefined && !Array.isArray(trustedOrigins)) {
    throw new ConfigurationError('"trustedOrigins" must be an array of origins like "https://api.example.com"');
  }
  const origins = (trustedOrigins ?? []).map((entry) => {
    const origin = typeof entry === 'string' ? originOf(entry) : undefined;
    if (origin === undefined)
      throw new ConfigurationError(`"trustedOrigins": ${JSON.stringify(entry)} is not an origin`);
    return origin;
  });
  const page = pageHref();
  // A relative prefix (a browser app calling its own origin) resolves against the page.
  const ownOrigin = own === undefined ? originOf(page ?? '') : originOf(own, page);
  if (ownOrigin !== undefined) origins.push(ownOrigin);
  return [...new Set(origins)];
}

/**
 * A test that an absolute request URL is on one of `origins`. Every request goes through it:
 * a prefix comparison per origin, no URL parsing (a URL written another way is normalised by
 * the caller before a second try).
 */
export function originTest(origins: readonly string[]): (url: string) => boolean {
  const prefixes = origins.map((origin) => `${origin}/`);
  return (url) => prefixes.some((p) => url.startsWith(p));
}
