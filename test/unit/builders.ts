/** Small builders shared by the unit tests of the leaf modules. */

/** The one unsigned-JWT builder of the tests (the SDK only decodes JWTs). */
export { unsignedJwt } from '../helpers/tokens.ts';

/** 2026-01-01T00:00:00Z, the ManualClock's default start, in ms. */
export const NOW = Date.UTC(2026, 0, 1);
