/** Small builders shared by the unit tests of the leaf modules. */

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWT-shaped access token with `claims` and no valid signature (the SDK only decodes it). */
export const unsignedJwt = (claims: Record<string, unknown>): string =>
  `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.sig`;

/** 2026-01-01T00:00:00Z, the ManualClock's default start, in ms. */
export const NOW = Date.UTC(2026, 0, 1);
