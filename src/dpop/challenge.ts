/**
 * Whether a resource server's answer is the RFC 9449 section 9 nonce challenge: 401 with
 * `WWW-Authenticate: DPoP error="use_dpop_nonce"`. It says "sign again with this nonce", not
 * "this token is bad": it is retried once with the new nonce and never starts a refresh.
 */
export function isNonceChallenge(response: Response): boolean {
  if (response.status !== 401) return false;
  const header = response.headers.get('www-authenticate');
  if (header === null) return false;
  // Several challenges may share the header (Bearer and DPoP): read the DPoP one's parameters.
  const start = header.search(/(?:^|[\s,])DPoP(?:\s|$)/i);
  if (start === -1) return false;
  const dpop = header.slice(start).replace(/^[\s,]*DPoP/i, '');
  const end = dpop.search(/,\s*[A-Za-z][\w!#$%&'*+.^`|~-]*\s+[\w!#$%&'*+.^`|~-]+\s*=/);
  const params = end === -1 ? dpop : dpop.slice(0, end);
  return /(?:^|[\s,])error\s*=\s*"?use_dpop_nonce"?/i.test(params);
}
