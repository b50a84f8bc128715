/**
 * isNonceChallenge (src/dpop/challenge.ts): a 401 whose `WWW-Authenticate` has a DPoP challenge
 * with `error="use_dpop_nonce"` (RFC 9449 section 9), however the header is written, and never
 * the same parameter of another scheme's challenge in the same header.
 */
import { describe, expect, it } from 'vitest';
import { isNonceChallenge } from '../../src/dpop/challenge.ts';

const answer = (header: string | undefined, status = 401) =>
  new Response(null, { status, headers: header === undefined ? {} : { 'www-authenticate': header } });

describe('isNonceChallenge', () => {
  it.each([
    'DPoP error="use_dpop_nonce"',
    'DPoP error=use_dpop_nonce',
    'DPoP error = "use_dpop_nonce"',
    'DPoP ERROR="USE_DPOP_NONCE"',
    'dpop error="use_dpop_nonce"',
    '  DPoP error="use_dpop_nonce"',
    'DPoP\terror="use_dpop_nonce"',
    'DPoP algs="ES256", error="use_dpop_nonce"',
    'DPoP algs="ES256",error="use_dpop_nonce"',
    'DPoP algs="ES256 PS256", error="use_dpop_nonce", error_description="nonce required"',
    'Bearer realm="api", DPoP error="use_dpop_nonce"',
    'Bearer realm="api",DPoP error="use_dpop_nonce"',
    'Bearer realm="api" DPoP error="use_dpop_nonce"',
    'Bearer realm="api", DPoP algs="ES256", error="use_dpop_nonce"',
    'DPoP error="use_dpop_nonce", Bearer realm="api"',
    ', DPoP error="use_dpop_nonce"', // an empty list element first (RFC 9110 section 5.6.1)
  ])('a 401 with %s is one', (header) => {
    expect(isNonceChallenge(answer(header))).toBe(true);
  });

  it.each([
    ['another error', 'DPoP error="invalid_token"'],
    ['the nonce in the description only', 'DPoP error_description="use_dpop_nonce"'],
    ['a parameter that ends in error', 'DPoP myerror="use_dpop_nonce"'],
    ['another scheme whose name ends in DPoP', 'XDPoP error="use_dpop_nonce"'],
    ['another scheme whose name starts with DPoP', 'DPoPx error="use_dpop_nonce"'],
    ['DPoP only in a parameter value', 'Bearer realm="DPoP ", error="use_dpop_nonce"'],
    ['the Bearer challenge', 'Bearer error="use_dpop_nonce"'],
    ['the Bearer challenge before DPoP', 'Bearer error="use_dpop_nonce", DPoP error="invalid_token"'],
    ['the Bearer challenge after DPoP', 'DPoP error="invalid_token", Bearer error="use_dpop_nonce"'],
    ['another scheme after DPoP, without a space', 'DPoP error="invalid_token",Bearer error="use_dpop_nonce"'],
    ['another scheme after DPoP, spaced', 'DPoP error="invalid_token",  Bearer   error = "use_dpop_nonce"'],
    ['a scheme with symbols after DPoP', 'DPoP algs="ES256", X-Auth.v2!#$%&\'*+^`|~ error="use_dpop_nonce"'],
    ['a scheme whose parameter has symbols', 'DPoP algs="ES256", Other p-1!#$%&\'*+.^`|~=1, error="use_dpop_nonce"'],
    ['a bare DPoP', 'Bearer error="use_dpop_nonce", DPoP'],
    ['an empty header', ''],
  ])('a 401 with %s is not one', (_, header) => {
    expect(isNonceChallenge(answer(header))).toBe(false);
  });

  it('a 401 without WWW-Authenticate is not one', () => {
    expect(isNonceChallenge(answer(undefined))).toBe(false);
  });

  it.each([200, 400, 403])('a %i is not one, whatever its header says', (status) => {
    expect(isNonceChallenge(answer('DPoP error="use_dpop_nonce"', status))).toBe(false);
  });
});
