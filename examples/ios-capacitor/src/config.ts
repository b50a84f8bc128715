/**
 * Where the app finds its backend. The reference server (examples/server) listens on
 * http://127.0.0.1:4000 by default and calls itself that (its issuer), which the iOS Simulator
 * reaches on the Mac (it shares the Mac's loopback). A `?server=` query parameter overrides it
 * at run time (the browser test starts the server on a random port), and `VITE_SERVER_URL` at
 * build time (a device needs the Mac's LAN address, with the server started as
 * `ISSUER=http://<LAN-IP>:4000 HOST=0.0.0.0 npm run server`, or an HTTPS host).
 */
export interface AppConfig {
  /** Base URL of the OAuth server and its API, without a trailing slash. */
  serverUrl: string;
  /** The OAuth client id this app signs in as. */
  clientId: string;
  tokenEndpoint: string;
  revocationEndpoint: string;
  loginEndpoint: string;
  apiPrefix: string;
  /**
   * Web preview only: which biometry the plugin's web fallback pretends to have
   * (`?biometry=none` to try the app without it). Ignored on iOS, where the device decides.
   */
  webBiometry: 'faceId' | 'touchId' | 'none';
  /**
   * Whether the SDK may send tokens over plain http to a host that is not loopback: only for the
   * development setup above (a device reaching the Mac's LAN address). An `https:` server, as
   * in production, leaves it off.
   */
  allowInsecureHttp: boolean;
  /**
   * DPoP on (the default): every token bound to this device's key. `?dpop=off` (or
   * `VITE_DPOP=off` at build time) turns it off, for a development server that calls itself by
   * another name than the app uses (its proofs would name a URL the server does not answer to).
   */
  dpop: boolean;
}

/** `npm run server`'s address and issuer: `localhost` would be another name for it, not its own. */
const DEFAULT_SERVER_URL = 'http://127.0.0.1:4000';

export function readConfig(location: Pick<Location, 'search'> = window.location): AppConfig {
  const params = new URLSearchParams(location.search);
  const fromQuery = params.get('server');
  const fromBuild = import.meta.env.VITE_SERVER_URL as string | undefined;
  const serverUrl = (fromQuery ?? fromBuild ?? DEFAULT_SERVER_URL).replace(/\/+$/, '');
  if (!URL.canParse(serverUrl)) throw new Error(`Not a server URL: ${serverUrl}`);
  const biometry = params.get('biometry');
  return {
    serverUrl,
    clientId: 'ios-example',
    // The reference server's endpoints (its RFC 8414 metadata names the same ones). Fixed
    // paths rather than discovery, so the app can restore a session while offline. Only the
    // device-key assertion's audience is read from the metadata (see `advertisedTokenEndpoint`).
    tokenEndpoint: `${serverUrl}/oauth/token`,
    revocationEndpoint: `${serverUrl}/oauth/revoke`,
    loginEndpoint: `${serverUrl}/auth/login`,
    apiPrefix: `${serverUrl}/api`,
    webBiometry: biometry === 'none' || biometry === 'touchId' ? biometry : 'faceId',
    allowInsecureHttp: new URL(serverUrl).protocol === 'http:',
    dpop: (params.get('dpop') ?? (import.meta.env.VITE_DPOP as string | undefined)) !== 'off',
  };
}
