import { invalidRequest, OAuthError } from './errors.ts';

/** Requests larger than this are refused with 413 before they are parsed. */
export const MAX_BODY_BYTES = 16 * 1024;

function mediaType(request: Request): string {
  return (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Reads the body as UTF-8, refusing more than {@link MAX_BODY_BYTES} without buffering it all. */
async function readText(request: Request): Promise<string> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > MAX_BODY_BYTES) throw tooLarge();
  if (request.body === null) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch {
      throw invalidRequest('The request body could not be read.');
    }
    if (chunk.done) break;
    total += chunk.value.byteLength;
    if (total > MAX_BODY_BYTES) {
      await reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(chunk.value);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw invalidRequest('The request body is not valid UTF-8.');
  }
}

function tooLarge(): OAuthError {
  return new OAuthError(413, 'invalid_request', `The request body exceeds ${MAX_BODY_BYTES} bytes.`);
}

/**
 * Parses an `application/x-www-form-urlencoded` body (the only encoding RFC 6749 allows at
 * the token endpoint). A repeated parameter is refused (RFC 6749 section 3.2: parameters
 * MUST NOT be included more than once), and an empty value counts as absent.
 */
export async function readForm(request: Request): Promise<Map<string, string>> {
  if (mediaType(request) !== 'application/x-www-form-urlencoded') {
    throw invalidRequest('The request body must be application/x-www-form-urlencoded.');
  }
  const params = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(await readText(request))) {
    if (params.has(name)) throw invalidRequest(`The ${safeName(name)} parameter is repeated.`);
    if (value !== '') params.set(name, value);
  }
  return params;
}

/** Parses a JSON object body. */
export async function readJsonObject(request: Request): Promise<Record<string, unknown>> {
  if (mediaType(request) !== 'application/json') {
    throw invalidRequest('The request body must be application/json.');
  }
  let value: unknown;
  try {
    value = JSON.parse(await readText(request));
  } catch (error) {
    if (error instanceof OAuthError) throw error;
    throw invalidRequest('The request body is not valid JSON.');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidRequest('The request body must be a JSON object.');
  }
  return value as Record<string, unknown>;
}

/** A parameter name as it may appear in an error description: only if it is one of ours. */
function safeName(name: string): string {
  return /^[a-z_]{1,32}$/.test(name) ? name : 'a';
}

/** C0 and C1 control characters and DEL. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Whether `value` contains a control character. Never part of a username or an identifier
 * we issue, and PostgreSQL refuses U+0000 in text (an error, not a miss): such input is
 * refused before it reaches the database.
 */
export function hasControlCharacter(value: string): boolean {
  return CONTROL_CHARACTER.test(value);
}

/** Client identifiers we accept: printable, no spaces, 1-128 characters. */
const CLIENT_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * The public client's `client_id` (token endpoint auth method `none`). Missing or malformed
 * is `invalid_client` (401), as RFC 6749 section 5.2 prescribes for failed client
 * identification.
 */
export function requireClientId(value: unknown): string {
  if (typeof value !== 'string' || !CLIENT_ID.test(value)) {
    // No WWW-Authenticate: Basic here: public clients do not use HTTP authentication, and
    // the header would make browsers show a password dialog.
    throw new OAuthError(401, 'invalid_client', 'A valid client_id is required.');
  }
  return value;
}
