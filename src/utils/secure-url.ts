/**
 * Whether `value` is a URL a token may travel to: https, or plain http on a loopback host
 * (development), or any plain http when `allowInsecureHttp` says so (a phone reaching a dev
 * server on the LAN). The one rule for every endpoint, configured or discovered: anyone on the
 * path can read or forge plain http.
 */
export function isSecureUrl(value: unknown, allowInsecureHttp = false): boolean {
  let url: URL;
  try {
    url = new URL(value as string);
  } catch {
    return false;
  }
  if (url.protocol === 'https:') return true;
  if (url.protocol !== 'http:') return false;
  if (allowInsecureHttp) return true;
  const host = url.hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
