/**
 * A loopback HTTP proxy between the SDK and the reference server that plays programmable
 * faults, one per request, in the order they were queued:
 *
 * - `drop`: close the connection without answering (a dead Wi-Fi, a killed proxy);
 * - `reset`: answer with a TCP RST (ECONNRESET);
 * - `delay`: forward after `ms` (a slow network; past the SDK's timeout, it arrives late);
 * - `status`: answer 5xx or 429 (+ `Retry-After`) without forwarding;
 * - `garbled`: answer 200 with a body that is not JSON (a captive portal);
 * - `lose-response`: forward to the server, read its whole answer, then drop the
 *   connection: "the server rotated the refresh token but the response never arrived".
 *
 * Everything else is forwarded untouched. Every request is recorded with its fault.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  | { kind: 'drop' }
  | { kind: 'reset' }
  | { kind: 'delay'; ms: number }
  | { kind: 'status'; status: number; retryAfter?: string; body?: string }
  | { kind: 'garbled' }
  | { kind: 'lose-response' };

/** One request that went through the proxy. */
export interface ProxiedRequest {
  method: string;
  path: string;
  /** Milliseconds since the proxy started (performance clock). */
  at: number;
  fault: Fault['kind'] | 'none';
  /** For form posts: the `grant_type`. */
  grantType?: string;
}

interface Rule {
  matches: (method: string, path: string) => boolean;
  faults: Fault[];
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Every request seen, oldest first. */
  readonly requests: ProxiedRequest[];
  /**
   * Queues faults for the next requests whose path starts with `pathPrefix` (and method
   * matches, when given): the first such request gets `faults[0]`, and so on.
   */
  inject(pathPrefix: string, faults: Fault[], method?: string): void;
  /** Faults still queued. */
  readonly pendingFaults: number;
  /** Drops every queued fault: the service recovered. */
  clear(): void;
  /** Requests to the token endpoint (every grant type). */
  tokenRequests(): ProxiedRequest[];
  close(): Promise<void>;
}

/** Starts a proxy on a free loopback port in front of `target` (an `http://` base URL). */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const rules: Rule[] = [];
  const requests: ProxiedRequest[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const started = performance.now();

  const nextFault = (method: string, path: string): Fault | undefined => {
    for (const rule of rules) {
      if (rule.faults.length > 0 && rule.matches(method, path)) return rule.faults.shift();
    }
    return undefined;
  };

  const forward = (
    req: IncomingMessage,
    body: Buffer,
    res: ServerResponse,
    onAnswer?: (status: number, raw: Buffer) => void,
  ) => {
    const headers = { ...req.headers, host: upstream.host };
    const outgoing = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          const raw = Buffer.concat(chunks);
          if (onAnswer) return onAnswer(answer.statusCode ?? 502, raw);
          const responseHeaders = { ...answer.headers };
          delete responseHeaders['transfer-encoding'];
          responseHeaders['content-length'] = String(raw.length);
          res.writeHead(answer.statusCode ?? 502, responseHeaders);
          res.end(raw);
        });
      },
    );
    outgoing.on('error', () => res.socket?.destroy());
    outgoing.end(body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const method = req.method ?? 'GET';
      const path = req.url ?? '/';
      const fault = method === 'OPTIONS' ? undefined : nextFault(method, path);
      const record: ProxiedRequest = { method, path, at: performance.now() - started, fault: fault?.kind ?? 'none' };
      const grantType = new URLSearchParams(body.toString('utf8')).get('grant_type');
      if (grantType) record.grantType = grantType;
      requests.push(record);

      if (!fault) return forward(req, body, res);
      switch (fault.kind) {
        case 'drop':
          return req.socket.destroy();
        case 'reset':
          return req.socket.resetAndDestroy();
        case 'delay': {
          const timer = setTimeout(() => {
            timers.delete(timer);
            if (!req.socket.destroyed) forward(req, body, res);
            // The client gave up meanwhile: deliver anyway, as a slow network would.
            else forward(req, body, res, () => {});
          }, fault.ms);
          timers.add(timer);
          return;
        }
        case 'status': {
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
          res.writeHead(fault.status, headers);
          return res.end(fault.body ?? JSON.stringify({ error: 'temporarily_unavailable' }));
        }
        case 'garbled':
          res.writeHead(200, { 'content-type': 'text/html' });
          return res.end('<html><body>Please sign in to the Wi-Fi</body></html>');
        case 'lose-response':
          return forward(req, body, res, () => req.socket.destroy());
      }
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // Keep-alive sockets would let a fault on one request bleed into the next: one per request.
  server.keepAliveTimeout = 1;

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    inject(pathPrefix, faults, method) {
      rules.push({
        matches: (m, p) => p.startsWith(pathPrefix) && (method === undefined || m === method),
        faults: [...faults],
      });
    },
    clear() {
      rules.length = 0;
    },
    get pendingFaults() {
      return rules.reduce((n, rule) => n + rule.faults.length, 0);
    },
    tokenRequests: () => requests.filter((r) => r.path.startsWith('/oauth/token')),
    async close() {
      for (const timer of timers) clearTimeout(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
