/**
 * The scenarios, each one run of one client against the loopback server. Counts come from the
 * server (what it actually saw), times from the client process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { TokenResponse } from 'session-keeper';
import { describeFailure, type BenchClient, type ClientKind, type Endpoints } from './clients.ts';
import type { ServerStats } from './server.ts';

/** The loopback server, in its own process, and its switches. */
export class Harness {
  readonly endpoints: Endpoints;
  readonly #base: string;
  readonly #child: ChildProcess;

  private constructor(base: string, child: ChildProcess) {
    this.#base = base;
    this.#child = child;
    this.endpoints = { api: `${base}/api`, tokenEndpoint: `${base}/oauth/token` };
  }

  static async start(): Promise<Harness> {
    const script = fileURLToPath(new URL('./server.ts', import.meta.url));
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
      createInterface({ input: child.stdout! }).once('line', (line) =>
        resolve((JSON.parse(line) as { port: number }).port),
      );
    });
    return new Harness(`http://127.0.0.1:${port}`, child);
  }

  async #call<T>(path: string, init?: RequestInit): Promise<T> {
    const response = await fetch(`${this.#base}${path}`, init);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return (await response.json()) as T;
  }

  /** Forgets every token, zeroes the counters and switches, and signs in a fresh user. */
  async freshSession(): Promise<TokenResponse> {
    await this.#call('/_bench/reset', { method: 'POST' });
    return this.#call<TokenResponse>('/login', { method: 'POST' });
  }

  /** Every access token issued so far is rejected from now on (the herd's "expired token"). */
  expireAccessTokens(): Promise<unknown> {
    return this.#call('/_bench/expire', { method: 'POST' });
  }

  /** `invalidGrant`: the token endpoint rejects every refresh; `fail503`: the next N answer 503. */
  setMode(mode: { invalidGrant?: boolean; fail503?: number }): Promise<unknown> {
    const query = new URLSearchParams({
      invalidGrant: mode.invalidGrant ? '1' : '0',
      fail503: String(mode.fail503 ?? 0),
    });
    return this.#call(`/_bench/mode?${query}`, { method: 'POST' });
  }

  stats(): Promise<ServerStats> {
    return this.#call<ServerStats>('/_bench/stats');
  }

  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.kill('SIGTERM');
    await exited;
  }
}

/** What one burst of requests did. */
export interface BurstResult {
  client: string;
  requests: number;
  succeeded: number;
  failures: string[];
  /** Requests still pending when the run gave up on them (a hang or a loop). */
  unsettled: number;
  wallMs: number;
  /** CPU time (user + system) the client process spent on the burst. */
  cpuMs: number;
  refreshCalls: number;
  apiCalls: number;
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

interface Outcome {
  ok: boolean;
  failure?: string;
}

/**
 * Fires `requests` GETs at once, spread over the contexts, and waits for all of them (or
 * `giveUpMs`). Server counts are taken as a difference around the burst.
 */
async function burst(
  harness: Harness,
  kind: ClientKind,
  clients: BenchClient[],
  requests: number,
  giveUpMs: number,
): Promise<BurstResult> {
  const before = await harness.stats();
  const outcomes: (Outcome | undefined)[] = new Array<Outcome | undefined>(requests);
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const all = Promise.all(
    Array.from({ length: requests }, async (_, i) => {
      const client = clients[i % clients.length]!;
      try {
        await client.get(`items/${i}`);
        outcomes[i] = { ok: true };
      } catch (error) {
        outcomes[i] = { ok: false, failure: describeFailure(error) };
      }
    }),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([all, new Promise((resolve) => (timer = setTimeout(resolve, giveUpMs)))]);
  clearTimeout(timer);
  const wallMs = performance.now() - start;
  const cpuMs = cpuMsSince(cpuStart);
  const after = await harness.stats();
  const settled = outcomes.filter((o): o is Outcome => o !== undefined);
  return {
    client: kind.name,
    requests,
    succeeded: settled.filter((o) => o.ok).length,
    failures: settled.flatMap((o) => (o.failure === undefined ? [] : [o.failure])),
    unsettled: requests - settled.length,
    wallMs,
    cpuMs,
    refreshCalls: after.refreshCalls - before.refreshCalls,
    apiCalls: after.apiCalls - before.apiCalls,
  };
}

async function signedIn(harness: Harness, kind: ClientKind, contexts: number): Promise<BenchClient[]> {
  const initial = await harness.freshSession();
  const clients = await kind.create(harness.endpoints, initial, contexts);
  // One request each with the valid token: everyone is set up and connected.
  await Promise.all(clients.map((client) => client.get('items')));
  return clients;
}

function disposeAll(clients: BenchClient[]): void {
  for (const client of clients) client.dispose();
}

/** N concurrent requests whose access token the server no longer accepts. */
export async function herd(harness: Harness, kind: ClientKind, requests: number, contexts = 1): Promise<BurstResult> {
  const clients = await signedIn(harness, kind, contexts);
  await harness.expireAccessTokens();
  const result = await burst(harness, kind, clients, requests, 30_000);
  disposeAll(clients);
  return result;
}

/** The refresh token is dead: every refresh answers `invalid_grant`. */
export async function terminalFailure(harness: Harness, kind: ClientKind, requests: number): Promise<BurstResult> {
  const clients = await signedIn(harness, kind, 1);
  await harness.expireAccessTokens();
  await harness.setMode({ invalidGrant: true });
  const result = await burst(harness, kind, clients, requests, 20_000);
  disposeAll(clients);
  return result;
}

/** The token endpoint answers 503 twice, then works. */
export async function transientFailure(harness: Harness, kind: ClientKind, requests: number): Promise<BurstResult> {
  const clients = await signedIn(harness, kind, 1);
  await harness.expireAccessTokens();
  await harness.setMode({ fail503: 2 });
  const result = await burst(harness, kind, clients, requests, 30_000);
  disposeAll(clients);
  return result;
}

export interface SteadyResult {
  client: string;
  requests: number;
  failed: number;
  wallMs: number;
  /** Client-process CPU time per request, in µs: the client's own cost, robust to other load. */
  cpuUsPerRequest: number;
  requestsPerSecond: number;
  latenciesMs: number[];
}

/**
 * `requests` GETs through `concurrency` workers that each send one at a time, on one signed-in
 * client; `path` names the resource of request `i`.
 */
export async function steadyLoop(
  name: string,
  client: BenchClient,
  requests: number,
  concurrency: number,
  path: (i: number) => string = (i) => `items/${i}`,
): Promise<SteadyResult> {
  const latenciesMs: number[] = [];
  let next = 0;
  let failed = 0;
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        const i = next++;
        const t0 = performance.now();
        try {
          await client.get(path(i));
        } catch {
          failed++;
        }
        latenciesMs.push(performance.now() - t0);
      }
    }),
  );
  const wallMs = performance.now() - start;
  const cpuUsPerRequest = (cpuMsSince(cpuStart) * 1000) / requests;
  return {
    client: name,
    requests,
    failed,
    wallMs,
    cpuUsPerRequest,
    requestsPerSecond: (requests / wallMs) * 1000,
    latenciesMs,
  };
}

/** A valid token; `requests` GETs through `concurrency` workers that each send one at a time. */
export async function steadyState(
  harness: Harness,
  kind: ClientKind,
  requests: number,
  concurrency: number,
): Promise<SteadyResult> {
  const clients = await signedIn(harness, kind, 1);
  const result = await steadyLoop(kind.name, clients[0]!, requests, concurrency);
  disposeAll(clients);
  return result;
}
