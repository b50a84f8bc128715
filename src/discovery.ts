import { DiscoveryError } from './errors.ts';
import { globalFetch } from './utils/global-fetch.ts';
import { isSecureUrl } from './utils/secure-url.ts';

/** The endpoints session-keeper uses, from an authorization server's metadata (RFC 8414). */
export interface DiscoveredEndpoints {
  issuer: string;
  /** For `tokenEndpoint`. */
  tokenEndpoint: string;
  /** For `revocationEndpoint`, when the server has one (RFC 7009). */
  revocationEndpoint: string | undefined;
  /** The grant types the server says it supports, when it says. */
  grantTypesSupported: string[] | undefined;
}

function endpoint(
  metadata: Record<string, unknown>,
  field: string,
  required: boolean,
  allowInsecureHttp: boolean | undefined,
): string | undefined {
  const value = metadata[field];
  if (value === undefined && !required) return undefined;
  if (typeof value === 'string' && isSecureUrl(value, allowInsecureHttp)) return value;
  throw new DiscoveryError(`Metadata field "${field}" is not an https URL`);
}

/**
 * Reads an authorization server's metadata (RFC 8414) and returns the endpoints to give
 * `SessionManager`. The well-known path goes between the issuer's host and its path, and
 * the metadata's `issuer` must be the one asked for (RFC 8414 section 3.3), so a compromised or
 * misconfigured redirect cannot substitute another server.
 * @example
 * const { tokenEndpoint, revocationEndpoint } = await discoverEndpoints('https://auth.example.com');
 * const session = new SessionManager({ tokenEndpoint, revocationEndpoint, clientId: 'my-app' });
 * @param options.allowInsecureHttp - accept plain `http:` on any host (development only); by
 *   default only `https:`, or `http:` on a loopback host, as for the manager's endpoints
 * @throws DiscoveryError - unreachable (`transient`), or metadata that is not usable
 */
export async function discoverEndpoints(
  issuer: string,
  options: { fetch?: typeof globalThis.fetch; signal?: AbortSignal; allowInsecureHttp?: boolean } = {},
): Promise<DiscoveredEndpoints> {
  // Metadata read over plain http could be forged by anyone on the path (RFC 8414 section 2).
  if (!isSecureUrl(issuer, options.allowInsecureHttp))
    throw new DiscoveryError(`The issuer ${JSON.stringify(issuer)} is not an https URL`);
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  const wellKnown = `${url.origin}/.well-known/oauth-authorization-server${path}`;
  const fetch = options.fetch ?? globalFetch;
  let metadata: unknown;
  try {
    const response = await fetch(wellKnown, {
      headers: { accept: 'application/json' },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (!response.ok)
      throw new DiscoveryError(`${wellKnown} answered HTTP ${response.status}`, { transient: response.status >= 500 });
    metadata = await response.json();
  } catch (error) {
    if (error instanceof DiscoveryError) throw error;
    throw new DiscoveryError(`Could not read ${wellKnown}`, { cause: error, transient: true });
  }
  if (typeof metadata !== 'object' || metadata === null) throw new DiscoveryError('Metadata is not a JSON object');
  const fields = metadata as Record<string, unknown>;
  if (fields.issuer !== issuer.replace(/\/$/, '') && fields.issuer !== issuer) {
    throw new DiscoveryError(`Metadata names issuer ${JSON.stringify(fields.issuer)}, not ${JSON.stringify(issuer)}`);
  }
  const grants = fields.grant_types_supported;
  return {
    issuer: fields.issuer as string,
    tokenEndpoint: endpoint(fields, 'token_endpoint', true, options.allowInsecureHttp) as string,
    revocationEndpoint: endpoint(fields, 'revocation_endpoint', false, options.allowInsecureHttp),
    grantTypesSupported: Array.isArray(grants) && grants.every((g) => typeof g === 'string') ? grants : undefined,
  };
}
