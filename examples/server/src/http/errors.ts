/** RFC 6749 section 5.2 error codes (plus the RFC 6750, RFC 7009 and RFC 9449 ones we use). */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_token'
  | 'slow_down'
  | 'temporarily_unavailable'
  | 'server_error'
  | 'not_found'
  | 'method_not_allowed'
  /** RFC 9449 section 5 and 7.1: the DPoP proof is missing, malformed, replayed or does not match. */
  | 'invalid_dpop_proof'
  /** RFC 9449 section 8 and 9: sign the proof again with the nonce in `DPoP-Nonce`. */
  | 'use_dpop_nonce';

/**
 * An error that becomes an RFC 6749 error response: `{ error, error_description }` with
 * the given status and headers. Descriptions are fixed strings chosen by the server: they
 * never echo input and never say whether a token existed.
 */
export class OAuthError extends Error {
  override readonly name = 'OAuthError';
  readonly status: 400 | 401 | 404 | 405 | 413 | 415 | 429 | 503;
  readonly code: OAuthErrorCode;
  readonly headers: Record<string, string>;

  constructor(
    status: OAuthError['status'],
    code: OAuthErrorCode,
    description: string,
    headers: Record<string, string> = {},
  ) {
    super(description);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }

  /** The JSON error body. */
  toBody(): { error: OAuthErrorCode; error_description: string } {
    return { error: this.code, error_description: this.message };
  }
}

/** Shorthand for the most common case: 400 invalid_request. */
export function invalidRequest(description: string): OAuthError {
  return new OAuthError(400, 'invalid_request', description);
}

/** Responses carrying tokens must never be cached (RFC 6749 section 5.1). */
export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;
